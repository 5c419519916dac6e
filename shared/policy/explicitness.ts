import type { Confidence } from '#shared/drift/model.ts';
import {
  asArray,
  asRecord,
  asString,
  getPath,
  type JsonRecord,
  LAST_APPLIED_ANNOTATION,
} from '#shared/kubernetes/object.ts';

// Tells a pull policy someone wrote from one the API server filled in at creation. Live objects always
// carry a policy, so only the object's history can tell: the client-side apply annotation records the
// manifest as written, and server-side apply records exactly the fields the applier set. Update requests
// (create, edit, client-side apply) record every field of the stored object, defaulted ones included.

export type ExplicitnessState = 'explicit' | 'defaulted' | 'unknown';

export interface Explicitness {
  state: ExplicitnessState;
  confidence: Confidence;
  evidence: string;
}

/** Identifies the field holding a policy: a container's `imagePullPolicy` or an image volume's `image.pullPolicy`. */
export interface PolicyField {
  /** `containers`, `initContainers`, `ephemeralContainers` or `volumes`. */
  list: string;
  /** The `name` of the container or volume. */
  name: string;
}

function policyPath(field: PolicyField): readonly string[] {
  return field.list === 'volumes' ? ['image', 'pullPolicy'] : ['imagePullPolicy'];
}

const lastAppliedCache = new WeakMap<object, JsonRecord | null>();

function lastApplied(metadata: JsonRecord): JsonRecord | undefined {
  const cached = lastAppliedCache.get(metadata);
  if (cached !== undefined) return cached ?? undefined;
  const text = asString(asRecord(metadata.annotations)?.[LAST_APPLIED_ANNOTATION]);
  let parsed: JsonRecord | null = null;
  if (text !== undefined) {
    try {
      parsed = asRecord(JSON.parse(text)) ?? null;
    } catch {
      parsed = null;
    }
  }
  lastAppliedCache.set(metadata, parsed);
  return parsed ?? undefined;
}

function findNamed(list: unknown, name: string): JsonRecord | undefined {
  for (const entry of asArray(list) ?? []) {
    const record = asRecord(entry);
    if (record !== undefined && record.name === name) return record;
  }
  return undefined;
}

function fromLastApplied(
  metadata: JsonRecord,
  podSpecPath: readonly string[],
  field: PolicyField,
): Explicitness | undefined {
  const applied = lastApplied(metadata);
  if (applied === undefined) return undefined;
  const entry = findNamed(getPath(applied, [...podSpecPath, field.list]), field.name);
  if (entry === undefined) return undefined;
  const path = policyPath(field);
  const where = `${LAST_APPLIED_ANNOTATION} (the manifest last applied with kubectl apply)`;
  if (getPath(entry, path) !== undefined) {
    return {
      state: 'explicit',
      confidence: 'high',
      evidence: `${where} sets ${path.join('.')} for "${field.name}"`,
    };
  }
  return {
    state: 'defaulted',
    confidence: 'high',
    evidence: `${where} has no ${path.join('.')} for "${field.name}", so the API server filled it in`,
  };
}

/** Walks a managedFields `fieldsV1` set to the policy field; reports whether the entry owns it. */
function ownsInFieldsV1(
  fields: unknown,
  podSpecPath: readonly string[],
  field: PolicyField,
): 'policy' | 'item' | 'none' {
  let node = asRecord(fields);
  for (const key of podSpecPath) {
    node = asRecord(node?.[`f:${key}`]);
    if (node === undefined) return 'none';
  }
  const list = asRecord(node?.[`f:${field.list}`]);
  if (list === undefined) return 'none';
  let item: JsonRecord | undefined;
  for (const [key, value] of Object.entries(list)) {
    if (!key.startsWith('k:')) continue;
    try {
      if (asRecord(JSON.parse(key.slice(2)))?.name === field.name) {
        item = asRecord(value);
        break;
      }
    } catch {
      // A malformed key cannot identify the item; keep looking.
    }
  }
  if (item === undefined) return 'none';
  let owned: JsonRecord | undefined = item;
  for (const key of policyPath(field)) {
    owned = asRecord(owned?.[`f:${key}`]);
    if (owned === undefined) return 'item';
  }
  return 'policy';
}

function fromManagedFields(
  metadata: JsonRecord,
  podSpecPath: readonly string[],
  field: PolicyField,
): Explicitness | undefined {
  const entries = asArray(metadata.managedFields);
  if (entries === undefined || entries.length === 0) return undefined;
  const appliers: string[] = [];
  const updaters: string[] = [];
  let appliedItem = false;
  for (const raw of entries) {
    const entry = asRecord(raw);
    if (entry === undefined || entry.subresource !== undefined) continue;
    const ownership = ownsInFieldsV1(entry.fieldsV1, podSpecPath, field);
    const manager = asString(entry.manager) ?? 'unknown manager';
    if (entry.operation === 'Apply') {
      if (ownership === 'policy') appliers.push(manager);
      if (ownership !== 'none') appliedItem = true;
    } else if (ownership === 'policy') {
      updaters.push(manager);
    }
  }
  const path = policyPath(field).join('.');
  if (appliers.length > 0) {
    return {
      state: 'explicit',
      confidence: 'high',
      evidence: `managedFields: server-side apply by ${appliers.join(', ')} sets ${path} for "${field.name}"`,
    };
  }
  if (appliedItem && updaters.length === 0) {
    return {
      state: 'defaulted',
      confidence: 'high',
      evidence: `managedFields: server-side apply manages "${field.name}" but not its ${path}, and no other manager owns it`,
    };
  }
  if (updaters.length > 0) {
    return {
      state: 'unknown',
      confidence: 'low',
      evidence:
        `managedFields attribute ${path} of "${field.name}" to ${updaters.join(', ')} (update requests), ` +
        'which record defaulted values too, so it may have been defaulted',
    };
  }
  return undefined;
}

/** Judges whether a live object's policy was written or defaulted. */
export function judgeExplicitness(
  metadata: JsonRecord | undefined,
  podSpecPath: readonly string[],
  field: PolicyField,
): Explicitness {
  if (metadata !== undefined) {
    const judged =
      fromLastApplied(metadata, podSpecPath, field) ??
      fromManagedFields(metadata, podSpecPath, field);
    if (judged !== undefined) return judged;
  }
  return {
    state: 'unknown',
    confidence: 'low',
    evidence:
      `the object has neither a ${LAST_APPLIED_ANNOTATION} annotation nor managedFields for "${field.name}", ` +
      'so whether the policy was set explicitly cannot be told',
  };
}
