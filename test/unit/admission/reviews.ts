import type { Clock } from '#shared/admission/deadline.ts';
import type { AdmissionDependencies } from '#shared/admission/http.ts';
import { parseConfig } from '#shared/config/load.ts';
import { type Config, DEFAULT_CONFIG } from '#shared/config/schema.ts';
import { environmentSecretResolver } from '#shared/config/secret-ref.ts';
import type { HttpRequest } from '#shared/http/request.ts';

// AdmissionReviews shaped as the API server sends them (admission.k8s.io/v1): objects after defaulting
// and the ServiceAccount admission plugin, with managedFields and, for kubectl apply, the
// last-applied-configuration annotation. Plus fakes for the webhook's side effects and an independent
// RFC 6902 applier to check the patches the webhook returns.

export const DIGEST = `sha256:${'3f'.repeat(32)}`;
export const OTHER_DIGEST = `sha256:${'4e'.repeat(32)}`;
export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

type Json = Record<string, unknown>;

export interface KindInfo {
  group: string;
  version: string;
  resource: string;
  /** Pod spec → the object's body below metadata. */
  wrap(podSpec: Json): Json;
  /** JSON pointer of the pod spec. */
  podSpecPointer: string;
}

const template = (podSpec: Json) => ({
  metadata: { creationTimestamp: null, labels: { app: 'api' } },
  spec: podSpec,
});

export const KINDS: Record<string, KindInfo> = {
  Pod: {
    group: '',
    version: 'v1',
    resource: 'pods',
    wrap: (podSpec) => ({
      spec: podSpec,
      status: { phase: 'Pending', qosClass: 'BestEffort' },
    }),
    podSpecPointer: '/spec',
  },
  Deployment: {
    group: 'apps',
    version: 'v1',
    resource: 'deployments',
    wrap: (podSpec) => ({
      spec: {
        replicas: 3,
        revisionHistoryLimit: 10,
        progressDeadlineSeconds: 600,
        selector: { matchLabels: { app: 'api' } },
        strategy: {
          type: 'RollingUpdate',
          rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' },
        },
        template: template(podSpec),
      },
      status: {},
    }),
    podSpecPointer: '/spec/template/spec',
  },
  ReplicaSet: {
    group: 'apps',
    version: 'v1',
    resource: 'replicasets',
    wrap: (podSpec) => ({
      spec: { replicas: 2, selector: { matchLabels: { app: 'api' } }, template: template(podSpec) },
      status: { replicas: 0 },
    }),
    podSpecPointer: '/spec/template/spec',
  },
  StatefulSet: {
    group: 'apps',
    version: 'v1',
    resource: 'statefulsets',
    wrap: (podSpec) => ({
      spec: {
        replicas: 1,
        serviceName: 'api',
        podManagementPolicy: 'OrderedReady',
        persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
        selector: { matchLabels: { app: 'api' } },
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
        template: template(podSpec),
      },
      status: { replicas: 0, availableReplicas: 0 },
    }),
    podSpecPointer: '/spec/template/spec',
  },
  DaemonSet: {
    group: 'apps',
    version: 'v1',
    resource: 'daemonsets',
    wrap: (podSpec) => ({
      spec: {
        revisionHistoryLimit: 10,
        selector: { matchLabels: { app: 'api' } },
        updateStrategy: {
          type: 'RollingUpdate',
          rollingUpdate: { maxSurge: 0, maxUnavailable: 1 },
        },
        template: template(podSpec),
      },
      status: {
        currentNumberScheduled: 0,
        desiredNumberScheduled: 0,
        numberMisscheduled: 0,
        numberReady: 0,
      },
    }),
    podSpecPointer: '/spec/template/spec',
  },
  Job: {
    group: 'batch',
    version: 'v1',
    resource: 'jobs',
    wrap: (podSpec) => ({
      spec: {
        backoffLimit: 6,
        completionMode: 'NonIndexed',
        completions: 1,
        parallelism: 1,
        manualSelector: false,
        podReplacementPolicy: 'TerminatingOrFailed',
        suspend: false,
        template: template({ ...podSpec, restartPolicy: 'Never' }),
      },
      status: {},
    }),
    podSpecPointer: '/spec/template/spec',
  },
  CronJob: {
    group: 'batch',
    version: 'v1',
    resource: 'cronjobs',
    wrap: (podSpec) => ({
      spec: {
        schedule: '*/15 * * * *',
        concurrencyPolicy: 'Allow',
        failedJobsHistoryLimit: 1,
        successfulJobsHistoryLimit: 3,
        suspend: false,
        jobTemplate: {
          metadata: { creationTimestamp: null },
          spec: { backoffLimit: 6, template: template({ ...podSpec, restartPolicy: 'OnFailure' }) },
        },
      },
      status: {},
    }),
    podSpecPointer: '/spec/jobTemplate/spec/template/spec',
  },
  ReplicationController: {
    group: '',
    version: 'v1',
    resource: 'replicationcontrollers',
    wrap: (podSpec) => ({
      spec: { replicas: 1, selector: { app: 'api' }, template: template(podSpec) },
      status: { replicas: 0 },
    }),
    podSpecPointer: '/spec/template/spec',
  },
  PodTemplate: {
    group: '',
    version: 'v1',
    resource: 'podtemplates',
    wrap: (podSpec) => ({ template: template(podSpec) }),
    podSpecPointer: '/template/spec',
  },
};

/** A container after defaulting: the policy is always present in what the API server sends. */
export function container(name: string, image: string, imagePullPolicy: string): Json {
  return {
    name,
    image,
    imagePullPolicy,
    ports: [{ containerPort: 8080, protocol: 'TCP' }],
    resources: {},
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    volumeMounts: [
      {
        mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
        name: 'kube-api-access-7xq2d',
        readOnly: true,
      },
    ],
  };
}

export function podSpec(containers: Json[], extra: Json = {}): Json {
  return {
    containers,
    dnsPolicy: 'ClusterFirst',
    enableServiceLinks: true,
    preemptionPolicy: 'PreemptLowerPriority',
    priority: 0,
    restartPolicy: 'Always',
    schedulerName: 'default-scheduler',
    securityContext: {},
    serviceAccount: 'default',
    serviceAccountName: 'default',
    terminationGracePeriodSeconds: 30,
    tolerations: [
      {
        effect: 'NoExecute',
        key: 'node.kubernetes.io/not-ready',
        operator: 'Exists',
        tolerationSeconds: 300,
      },
    ],
    volumes: [
      {
        name: 'kube-api-access-7xq2d',
        projected: {
          defaultMode: 420,
          sources: [
            { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
            { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
          ],
        },
      },
    ],
    ...extra,
  };
}

export interface ObjectOptions {
  name?: string;
  namespace?: string | undefined;
  /** Fields added to metadata: annotations, managedFields, uid, … */
  metadata?: Json;
}

export function object(kind: string, spec: Json, options: ObjectOptions = {}): Json {
  const info = KINDS[kind] as KindInfo;
  const metadata: Json = { name: options.name ?? 'api', ...options.metadata };
  if (options.namespace !== undefined) metadata.namespace = options.namespace;
  return {
    apiVersion: info.group === '' ? info.version : `${info.group}/${info.version}`,
    kind,
    metadata,
    ...info.wrap(spec),
  };
}

/** Metadata of a stored object: what an UPDATE's oldObject and object carry. */
export function storedMetadata(extra: Json = {}): Json {
  return {
    namespace: 'shop',
    uid: '9a3c1e27-5b0f-4c55-8f3e-2d9f0b6f1c44',
    resourceVersion: '48213',
    generation: 4,
    creationTimestamp: '2026-03-02T09:14:07Z',
    ...extra,
  };
}

/** managedFields of an object last written by `kubectl edit`/`set image` (update requests). */
export function updateManagedFields(podSpecPath: readonly string[], names: string[]): Json[] {
  let fields: Json = {
    'f:containers': Object.fromEntries(
      names.map((name) => [
        `k:{"name":"${name}"}`,
        { '.': {}, 'f:image': {}, 'f:imagePullPolicy': {}, 'f:name': {} },
      ]),
    ),
  };
  for (const key of [...podSpecPath].reverse()) fields = { [`f:${key}`]: fields };
  return [
    {
      apiVersion: 'apps/v1',
      fieldsType: 'FieldsV1',
      fieldsV1: fields,
      manager: 'kubectl-edit',
      operation: 'Update',
      time: '2026-03-02T09:14:07Z',
    },
  ];
}

export interface ReviewOptions {
  operation?: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  kind: string;
  object: Json | null;
  oldObject?: Json | null;
  uid?: string;
  name?: string;
  namespace?: string;
  subResource?: string;
  dryRun?: boolean;
}

let counter = 0;

export function review(options: ReviewOptions): Json {
  const info = KINDS[options.kind] ?? {
    group: 'example.com',
    version: 'v1',
    resource: `${options.kind.toLowerCase()}s`,
  };
  const operation = options.operation ?? 'CREATE';
  counter++;
  const kind = { group: info.group, version: info.version, kind: options.kind };
  const resource = { group: info.group, version: info.version, resource: info.resource };
  const request: Json = {
    uid: options.uid ?? `0f2b6a4e-1c0d-4f5e-9a7b-${String(counter).padStart(12, '0')}`,
    kind,
    resource,
    requestKind: kind,
    requestResource: resource,
    name: options.name ?? 'api',
    namespace: options.namespace ?? 'shop',
    operation,
    userInfo: {
      username: 'kubernetes-admin',
      groups: ['kubeadm:cluster-admins', 'system:authenticated'],
    },
    object: options.object,
    oldObject: options.oldObject ?? null,
    dryRun: options.dryRun ?? false,
    options: {
      kind: operation === 'UPDATE' ? 'UpdateOptions' : 'CreateOptions',
      apiVersion: 'meta.k8s.io/v1',
      fieldManager: 'kubectl-client-side-apply',
      fieldValidation: 'Strict',
    },
  };
  if (options.subResource !== undefined) {
    request.subResource = options.subResource;
    request.requestSubResource = options.subResource;
  }
  return { kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request };
}

export function httpRequest(body: unknown, headers: Record<string, string> = {}): HttpRequest {
  return {
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    isBase64Encoded: false,
  };
}

export function config(yaml = ''): Config {
  return yaml === ''
    ? DEFAULT_CONFIG
    : parseConfig(`apiVersion: pullwarden.dev/v1\nkind: Config\n${yaml}`, 'test');
}

export interface Logged {
  level: 'info' | 'warn' | 'error';
  message: string;
  fields: Record<string, unknown>;
}

/** Time stands still: no deadline is ever reached. */
export const stillClock: Clock = {
  now: () => 0,
  schedule: () => () => undefined,
};

export function dependencies(
  overrides: Partial<AdmissionDependencies> & { settings?: Config } = {},
): AdmissionDependencies & { logged: Logged[] } {
  const logged: Logged[] = [];
  const log =
    (level: Logged['level']) =>
    (message: string, ...extra: Record<string, unknown>[]) =>
      logged.push({ level, message, fields: Object.assign({}, ...extra) });
  const settings = overrides.settings ?? DEFAULT_CONFIG;
  return {
    logged,
    loadConfig: async () => settings,
    secrets: environmentSecretResolver({ ADMISSION_TOKEN: 'kube-apiserver-s3cret' }),
    logger: { info: log('info'), warn: log('warn'), error: log('error') },
    clock: stillClock,
    ...overrides,
  };
}

export interface AdmissionAnswer {
  apiVersion: string;
  kind: string;
  response: {
    uid: string;
    allowed: boolean;
    warnings?: string[];
    status?: { code: number; reason: string; message: string };
    patchType?: string;
    patch?: string;
  };
}

export function answerOf(body: string): AdmissionAnswer {
  return JSON.parse(body) as AdmissionAnswer;
}

export interface PatchOperation {
  op: string;
  path: string;
  value?: unknown;
}

export function decodePatch(patch: string | undefined): PatchOperation[] {
  if (patch === undefined) return [];
  return JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as PatchOperation[];
}

function unescapeSegment(segment: string): string {
  return segment.replaceAll('~1', '/').replaceAll('~0', '~');
}

/** RFC 6902 `add` and `replace` (all the webhook may send), strict about missing parents. */
export function applyPatch(document: unknown, operations: readonly PatchOperation[]): unknown {
  const result = structuredClone(document);
  for (const operation of operations) {
    if (operation.op !== 'add' && operation.op !== 'replace') {
      throw new Error(`unexpected patch operation ${operation.op}`);
    }
    if (!operation.path.startsWith('/')) throw new Error(`bad pointer ${operation.path}`);
    const segments = operation.path.slice(1).split('/').map(unescapeSegment);
    const last = segments.pop() as string;
    let parent: unknown = result;
    for (const segment of segments) {
      if (Array.isArray(parent)) parent = parent[Number(segment)];
      else if (typeof parent === 'object' && parent !== null && segment in parent) {
        parent = (parent as Json)[segment];
      } else throw new Error(`${operation.path}: ${segment} does not exist`);
      if (parent === undefined) throw new Error(`${operation.path}: ${segment} does not exist`);
    }
    if (typeof parent !== 'object' || parent === null || Array.isArray(parent)) {
      throw new Error(`${operation.path}: the parent is not an object`);
    }
    if (operation.op === 'replace' && !(last in parent)) {
      throw new Error(`${operation.path}: replace needs an existing value`);
    }
    (parent as Json)[last] = operation.value;
  }
  return result;
}

/** Follows a JSON pointer. */
export function pointerGet(document: unknown, pointer: string): unknown {
  let current = document;
  for (const segment of pointer.slice(1).split('/').map(unescapeSegment)) {
    if (Array.isArray(current)) current = current[Number(segment)];
    else if (typeof current === 'object' && current !== null) current = (current as Json)[segment];
    else return undefined;
  }
  return current;
}
