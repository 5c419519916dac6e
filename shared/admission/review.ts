import { z } from 'zod';
import { BadRequestError, type HttpResponse, jsonResponse } from '#shared/http/errors.ts';
import { asRecord } from '#shared/kubernetes/object.ts';

// The AdmissionReview the API server sends (admission.k8s.io/v1) and the answer it expects back. Only
// the envelope is checked strictly; the object inside is read as untrusted data by the extraction.

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';
export const ADMISSION_REVIEW_KIND = 'AdmissionReview';

/** The API group of every kind with a pod spec: the webhook rules register exactly these. */
export const POD_SPEC_KIND_GROUPS: Readonly<Record<string, string>> = {
  Pod: '',
  ReplicationController: '',
  PodTemplate: '',
  Deployment: 'apps',
  ReplicaSet: 'apps',
  StatefulSet: 'apps',
  DaemonSet: 'apps',
  Job: 'batch',
  CronJob: 'batch',
};

const EPHEMERAL_CONTAINERS = 'ephemeralcontainers';

const groupVersionKind = z.object({
  group: z.string().default(''),
  version: z.string().min(1, 'must not be empty'),
  kind: z.string().min(1, 'must not be empty'),
});

const groupVersionResource = z.object({
  group: z.string().default(''),
  version: z.string().min(1, 'must not be empty'),
  resource: z.string().min(1, 'must not be empty'),
});

const kubernetesObject = z
  .record(z.string(), z.unknown(), { error: 'must be a Kubernetes object or null' })
  .nullable()
  .optional();

const admissionRequest = z
  .object({
    uid: z.string({ error: 'must be a string' }).min(1, 'must not be empty'),
    kind: groupVersionKind,
    resource: groupVersionResource,
    subResource: z.string().optional(),
    requestKind: groupVersionKind.optional(),
    requestResource: groupVersionResource.optional(),
    requestSubResource: z.string().optional(),
    name: z.string().optional(),
    namespace: z.string().optional(),
    operation: z.enum(['CREATE', 'UPDATE', 'DELETE', 'CONNECT'], {
      error: 'must be CREATE, UPDATE, DELETE or CONNECT',
    }),
    userInfo: z.record(z.string(), z.unknown()).optional(),
    object: kubernetesObject,
    oldObject: kubernetesObject,
    dryRun: z.boolean().optional(),
    options: z.unknown().optional(),
  })
  .loose();

const admissionReview = z
  .object({
    apiVersion: z.literal(ADMISSION_API_VERSION, {
      error: `must be ${ADMISSION_API_VERSION} (set admissionReviewVersions: [v1] in the webhook configuration)`,
    }),
    kind: z.literal(ADMISSION_REVIEW_KIND, { error: `must be ${ADMISSION_REVIEW_KIND}` }),
    request: admissionRequest,
  })
  .loose();

export type AdmissionReview = z.infer<typeof admissionReview>;
export type AdmissionRequest = AdmissionReview['request'];

/** What of the object a review judges: all of its pod spec, only ephemeral containers, or nothing. */
export type ReviewScope = 'object' | 'ephemeralContainers' | undefined;

export function reviewScope(request: AdmissionRequest): ReviewScope {
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return undefined;
  const { group, kind } = request.kind;
  if (!Object.hasOwn(POD_SPEC_KIND_GROUPS, kind) || POD_SPEC_KIND_GROUPS[kind] !== group) {
    return undefined;
  }
  const subResource = request.subResource ?? '';
  if (subResource === '') return 'object';
  // `kubectl debug` adds ephemeral containers through their own subresource; status, scale, binding
  // and the rest never change an image.
  return subResource === EPHEMERAL_CONTAINERS && kind === 'Pod' ? 'ephemeralContainers' : undefined;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? String(segment) : `.${String(segment)}`;
  }
  return out;
}

/** Parses the body; a malformed review is a 400 that says which field is wrong. */
export function parseAdmissionReview(body: Buffer): AdmissionReview {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new BadRequestError(
      `the body is not valid JSON: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (asRecord(value) === undefined) {
    throw new BadRequestError('the body must be an AdmissionReview object');
  }
  const parsed = admissionReview.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => ({
      path: formatPath(issue.path),
      message: issue.message,
    }));
    const first = issues[0];
    throw new BadRequestError(
      `malformed AdmissionReview: ${first === undefined ? 'invalid' : `${first.path || '(document)'}: ${first.message}`}`,
      issues,
    );
  }
  const review = parsed.data;
  const { request } = review;
  if (reviewScope(request) !== undefined) {
    if (asRecord(request.object) === undefined) {
      throw new BadRequestError(
        `malformed AdmissionReview: request.object must be the ${request.kind.kind} being admitted`,
      );
    }
    if (request.operation === 'UPDATE' && asRecord(request.oldObject) === undefined) {
      throw new BadRequestError(
        `malformed AdmissionReview: request.oldObject must be the stored ${request.kind.kind} on UPDATE`,
      );
    }
  }
  return review;
}

export interface AdmissionStatus {
  code: number;
  reason: string;
  message: string;
}

/** The `response` of an AdmissionReview. */
export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  warnings?: string[];
  status?: AdmissionStatus;
  patchType?: 'JSONPatch';
  /** base64 of the JSON Patch document. */
  patch?: string;
}

export function admissionAnswer(
  review: AdmissionReview,
  response: AdmissionResponse,
): HttpResponse {
  return jsonResponse(200, {
    apiVersion: review.apiVersion,
    kind: review.kind,
    response,
  });
}
