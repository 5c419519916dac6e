import type { Finding, ImageSiteKind, PullPolicy, RuleId } from '#shared/drift/model.ts';
import { tryParseImageReference } from '#shared/image/reference.ts';
import {
  asArray,
  asRecord,
  asString,
  getPath,
  type JsonRecord,
  POD_SPEC_PATHS,
} from '#shared/kubernetes/object.ts';
import { isPullPolicy } from '#shared/policy/pull-policy.ts';

// Mutate mode: the JSON Patch (RFC 6902) that sets the pull policy a finding asks for. Only the policy
// field is touched, never the image. The recommendation is a fixed point — digest-pinned images get
// IfNotPresent, everything else Always — so a reinvoked webhook finds nothing more to patch.

/** Findings a different pull policy resolves (or, for PW001, makes safe until a version is pinned). */
export const POLICY_RULES: ReadonlySet<RuleId> = new Set([
  'PW001',
  'PW002',
  'PW003',
  'PW004',
  'PW005',
  'PW006',
]);

export interface JsonPatchOperation {
  op: 'add' | 'replace';
  path: string;
  value: string;
}

/** One pull policy the patch sets. */
export interface PolicyChange {
  kind: ImageSiteKind;
  name: string;
  image: string;
  /** The policy before the patch; undefined when the field was absent. */
  from: PullPolicy | undefined;
  to: PullPolicy;
  /** Path segments from the object's root to the policy field. */
  path: readonly (string | number)[];
  /** The field exists (RFC 6902 `replace`) rather than being added. */
  present: boolean;
}

interface PolicySite {
  image: unknown;
  policy: unknown;
  path: readonly (string | number)[];
  present: boolean;
}

const CONTAINER_LISTS: readonly { list: string; kind: ImageSiteKind }[] = [
  { list: 'initContainers', kind: 'initContainer' },
  { list: 'containers', kind: 'container' },
  { list: 'ephemeralContainers', kind: 'ephemeralContainer' },
];

/** Every site of the object by `kind\0name`, named as the extraction names them. */
function policySites(object: JsonRecord, kind: string): Map<string, PolicySite> {
  const sites = new Map<string, PolicySite>();
  const podSpecPath = Object.hasOwn(POD_SPEC_PATHS, kind) ? POD_SPEC_PATHS[kind] : undefined;
  const podSpec = podSpecPath === undefined ? undefined : asRecord(getPath(object, podSpecPath));
  if (podSpecPath === undefined || podSpec === undefined) return sites;
  for (const { list, kind: siteKind } of CONTAINER_LISTS) {
    (asArray(podSpec[list]) ?? []).forEach((raw, index) => {
      const container = asRecord(raw);
      if (container === undefined) return;
      const name = asString(container.name) ?? `#${index}`;
      sites.set(`${siteKind}\u0000${name}`, {
        image: container.image,
        policy: container.imagePullPolicy,
        path: [...podSpecPath, list, index, 'imagePullPolicy'],
        present: Object.hasOwn(container, 'imagePullPolicy'),
      });
    });
  }
  (asArray(podSpec.volumes) ?? []).forEach((raw, index) => {
    const volume = asRecord(raw);
    const source = asRecord(volume?.image);
    if (volume === undefined || source === undefined) return;
    const name = asString(volume.name) ?? `#${index}`;
    sites.set(`imageVolume\u0000${name}`, {
      image: source.reference,
      policy: source.pullPolicy,
      path: [...podSpecPath, 'volumes', index, 'image', 'pullPolicy'],
      present: Object.hasOwn(source, 'pullPolicy'),
    });
  });
  return sites;
}

/** A digest names one image, so the cache serves it; anything else is resolved again on every start. */
export function recommendedPolicy(image: string): PullPolicy | undefined {
  const reference = tryParseImageReference(image);
  if (reference instanceof Error) return undefined;
  return reference.digest === undefined ? 'Always' : 'IfNotPresent';
}

/** The policy changes that resolve `findings` on `object`, one per site, skipping what is already set. */
export function planPolicyChanges(
  object: JsonRecord,
  kind: string,
  findings: readonly Finding[],
): PolicyChange[] {
  const sites = policySites(object, kind);
  const changes = new Map<string, PolicyChange>();
  for (const finding of findings) {
    if (!POLICY_RULES.has(finding.ruleId)) continue;
    const key = `${finding.container.kind}\u0000${finding.container.name}`;
    const site = sites.get(key);
    if (changes.has(key) || site === undefined || site.image !== finding.image) continue;
    const to = recommendedPolicy(finding.image);
    if (to === undefined || site.policy === to) continue;
    changes.set(key, {
      kind: finding.container.kind,
      name: finding.container.name,
      image: finding.image,
      from: isPullPolicy(site.policy) ? site.policy : undefined,
      to,
      path: site.path,
      present: site.present,
    });
  }
  return [...changes.values()];
}

/** RFC 6901: `~` and `/` inside a segment are escaped. */
export function jsonPointer(path: readonly (string | number)[]): string {
  return path
    .map((segment) => `/${String(segment).replaceAll('~', '~0').replaceAll('/', '~1')}`)
    .join('');
}

export function jsonPatch(changes: readonly PolicyChange[]): JsonPatchOperation[] {
  return changes.map((change) => ({
    op: change.present ? 'replace' : 'add',
    path: jsonPointer(change.path),
    value: change.to,
  }));
}
