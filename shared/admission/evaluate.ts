import type { Config } from '#shared/config/schema.ts';
import { DriftEvaluator } from '#shared/drift/evaluator.ts';
import type { Finding, ImageSiteKind, InputProblem, PullPolicy } from '#shared/drift/model.ts';
import { parseImageReference } from '#shared/image/reference.ts';
import { asRecord, asString, type JsonRecord, POD_SPEC_PATHS } from '#shared/kubernetes/object.ts';
import { judgeExplicitness } from '#shared/policy/explicitness.ts';
import { defaultPullPolicy } from '#shared/policy/pull-policy.ts';
import {
  type DocumentSource,
  type ExtractionContext,
  extractObject,
  type ImageSite,
  type ObjectFacts,
} from '#shared/workload/extract.ts';
import type { AdmissionRequest, ReviewScope } from './review.ts';

// Judges the object of one admission request with the drift rules of every image site (PW001–PW007),
// under the configured rule settings and suppressions. What an UPDATE changes adds certainty to PW002:
// an image that changed under a pull policy nobody wrote is exactly the drift PW002 describes.

export interface AdmissionEvaluation {
  findings: Finding[];
  problems: InputProblem[];
}

const SOURCE: DocumentSource = { file: 'AdmissionReview', document: 1, itemPath: '' };

/** The list (or `volumes`) each kind of site is declared in. */
const SITE_LISTS: Record<ImageSiteKind, string> = {
  container: 'containers',
  initContainer: 'initContainers',
  ephemeralContainer: 'ephemeralContainers',
  imageVolume: 'volumes',
};

function policyField(kind: ImageSiteKind): string {
  return kind === 'imageVolume' ? 'image.pullPolicy' : 'imagePullPolicy';
}

function extractionContext(config: Config): ExtractionContext {
  return { nodeGroupLabels: config.nodeGroups.labels, locate: () => undefined };
}

/**
 * The object as the extraction should read it: the kind the API server names, the request's namespace
 * when the object leaves it out, and without status, because admission judges the spec being written;
 * what running pods report belongs to the drift sweep.
 */
function admitted(object: JsonRecord, request: AdmissionRequest): JsonRecord {
  const { status: _status, ...spec } = object;
  const metadata = { ...asRecord(object.metadata) };
  if (asString(metadata.namespace) === undefined && request.namespace) {
    metadata.namespace = request.namespace;
  }
  if (!asString(metadata.name) && !asString(metadata.generateName)) {
    metadata.name = request.name || `(new ${request.kind.kind})`;
  }
  return {
    ...spec,
    apiVersion: `${request.kind.group === '' ? '' : `${request.kind.group}/`}${request.kind.version}`,
    kind: request.kind.kind,
    metadata,
  };
}

function siteKey(site: Pick<ImageSite, 'kind' | 'name'>): string {
  return `${site.kind}\u0000${site.name}`;
}

/**
 * UPDATE: a site whose image changed while its policy stayed the default of the old image, and differs
 * from the default of the new one, still carries the policy the API server filled in for the old image.
 * Unless the object shows the policy was written, that is PW002 with high confidence.
 */
function markPoliciesKeptAcrossImageChange(
  current: ObjectFacts,
  previous: ObjectFacts,
  metadata: JsonRecord | undefined,
  podSpecPath: readonly string[],
): void {
  const before = new Map(previous.sites.map((site) => [siteKey(site), site]));
  for (const site of current.sites) {
    const old = before.get(siteKey(site));
    if (old === undefined || old.image === site.image) continue;
    if (site.policy === undefined || site.policy !== old.policy) continue;
    const oldDefault = defaultPullPolicy(parseImageReference(old.image));
    const newDefault = defaultPullPolicy(parseImageReference(site.image));
    if (site.policy !== oldDefault || site.policy === newDefault) continue;
    const judged =
      site.explicitness ??
      judgeExplicitness(metadata, podSpecPath, { list: SITE_LISTS[site.kind], name: site.name });
    if (judged.state === 'explicit') continue;
    site.explicitness = {
      state: 'defaulted',
      confidence: 'high',
      evidence:
        `this update changes the image from ${old.image} (default policy ${oldDefault}) to ${site.image} ` +
        `(default policy ${newDefault}) and keeps ${policyField(site.kind)} ${site.policy}; ${judged.evidence}`,
    };
  }
}

export interface ObjectHistory {
  /** CREATE: the policy was defaulted from this very image, if at all. */
  created: boolean;
  /** UPDATE: the stored object the request replaces. */
  previous?: JsonRecord | undefined;
}

/** An admitted object read into facts, ready to judge, and what could not be read. */
export interface AdmittedFacts {
  facts: ObjectFacts | undefined;
  problems: InputProblem[];
}

/** Reads `object` (the request's object or the stored one) as the rules should see it. */
export function admittedFacts(
  object: JsonRecord,
  request: AdmissionRequest,
  scope: Exclude<ReviewScope, undefined>,
  config: Config,
  history: ObjectHistory,
): AdmittedFacts {
  const subject = admitted(object, request);
  const context = extractionContext(config);
  const { facts, problems } = extractObject(subject, SOURCE, context);
  if (facts === undefined) return { facts, problems };
  if (history.created) {
    // On CREATE the API server defaults the policy from this very image: a policy that differs from
    // that default was written by someone, so nothing here can be a stale default (PW002).
    for (const site of facts.sites) site.explicitness = undefined;
  } else if (history.previous !== undefined) {
    const previous = extractObject(admitted(history.previous, request), SOURCE, context).facts;
    const path = POD_SPEC_PATHS[request.kind.kind];
    if (previous !== undefined && path !== undefined) {
      markPoliciesKeptAcrossImageChange(facts, previous, asRecord(subject.metadata), path);
    }
  }
  if (scope === 'ephemeralContainers') {
    facts.sites = facts.sites.filter((site) => site.kind === 'ephemeralContainer');
  }
  return { facts, problems };
}

/** The findings of the facts under the configured rule settings and suppressions. */
export function judgeFacts(admittedObject: AdmittedFacts, config: Config): AdmissionEvaluation {
  const { facts, problems } = admittedObject;
  if (facts === undefined) return { findings: [], problems };
  const evaluator = new DriftEvaluator(config);
  evaluator.addFacts(facts);
  return { findings: evaluator.finish().findings, problems };
}

/** A policy a patch sets on one site. */
export interface PatchedPolicy {
  kind: ImageSiteKind;
  name: string;
  to: PullPolicy;
}

/** The facts as they will be stored once the patch applies: a policy pullwarden sets is written. */
export function withPatchedPolicies(
  admittedObject: AdmittedFacts,
  patched: readonly PatchedPolicy[],
): AdmittedFacts {
  const { facts } = admittedObject;
  if (facts === undefined || patched.length === 0) return admittedObject;
  const sites = facts.sites.map((site) => {
    const change = patched.find((entry) => entry.kind === site.kind && entry.name === site.name);
    if (change === undefined) return site;
    return {
      ...site,
      policy: change.to,
      explicitness: {
        state: 'explicit' as const,
        confidence: 'high' as const,
        evidence: `pullwarden sets ${policyField(site.kind)} ${change.to} in this request`,
      },
    };
  });
  return { facts: { ...facts, sites }, problems: admittedObject.problems };
}

/** What the request's object is measured against. */
export function historyOf(request: AdmissionRequest): ObjectHistory {
  return request.operation === 'CREATE'
    ? { created: true }
    : { created: false, previous: asRecord(request.oldObject) };
}

/** Identifies a finding across two evaluations of one object. */
export function findingKey(finding: Finding): string {
  return [finding.ruleId, finding.container.kind, finding.container.name, finding.image].join(
    '\u0000',
  );
}
