import { readRunningImageId } from '#shared/image/image-id.ts';
import type { ImageReference } from '#shared/image/reference.ts';
import type { ResolvedDigest } from '#shared/registry/digest-resolver.ts';
import { sameBuild } from '#shared/registry/same-build.ts';
import type { Finding, ImageSiteKind, PullPolicy, SourceLocation, WorkloadRef } from './model.ts';
import type { RunningDigests } from './replica-skew.ts';
import { RULES } from './rules.ts';

// PW009: the registry serves a new digest for a tag that pods run from their node's cache. Only pods that
// report a registry digest can be compared; a platform manifest of the served index is the same build.

/** The registry's current answer for an image reference as written in a pod spec. */
export type ServedLookup = (image: string) => ResolvedDigest | undefined;

export interface TagMovedInput {
  workload: WorkloadRef;
  container: { kind: ImageSiteKind; name: string; image: string };
  reference: ImageReference;
  policy: PullPolicy;
  imageIds: RunningDigests;
  served: ResolvedDigest;
  location?: SourceLocation | undefined;
}

function short(digest: string): string {
  const colon = digest.indexOf(':');
  return `${digest.slice(0, colon + 13)}…`;
}

export function detectTagMoved(input: TagMovedInput): Finding | undefined {
  const { reference, served } = input;
  // A digest in the reference pins the build; `Always` re-resolves the tag on every start.
  if (reference.digest !== undefined || input.policy === 'Always') return undefined;
  const stale = new Map<string, Set<string>>();
  let stalePods = 0;
  let currentPods = 0;
  for (const [imageId, nodes] of input.imageIds) {
    const parsed = readRunningImageId(imageId);
    // A runtime-local image ID is a config digest: it cannot be compared with a manifest digest.
    if (parsed === undefined || parsed.kind !== 'repo-digest') continue;
    let pods = 0;
    for (const count of nodes.values()) pods += count;
    if (sameBuild(parsed.digest, served)) {
      currentPods += pods;
      continue;
    }
    stalePods += pods;
    const nodeNames = stale.get(parsed.digest) ?? new Set<string>();
    for (const node of nodes.keys()) if (node !== '') nodeNames.add(node);
    stale.set(parsed.digest, nodeNames);
  }
  if (stale.size === 0) return undefined;
  const staleNodes = new Set<string>();
  for (const nodes of stale.values()) for (const node of nodes) staleNodes.add(node);
  const nodeList = [...staleNodes].sort();
  const nodeText =
    nodeList.length === 0
      ? ''
      : ` on ${nodeList.slice(0, 3).join(', ')}${nodeList.length > 3 ? ` and ${nodeList.length - 3} more` : ''}`;
  const evidence = [
    `the registry now serves ${served.digest} for ${input.container.image}${
      (served.manifests?.length ?? 0) > 0
        ? ` (an index of ${served.manifests?.length} platform manifests)`
        : ''
    }`,
    ...[...stale].map(
      ([digest, nodes]) =>
        `pods run ${digest}${nodes.size > 0 ? ` on ${[...nodes].sort().slice(0, 5).join(', ')}` : ''}`,
    ),
    `imagePullPolicy is ${input.policy}: a node that holds the old image does not ask the registry again`,
  ];
  if (currentPods > 0) evidence.push(`${currentPods} pod(s) already run the served build`);
  const finding: Finding = {
    ruleId: 'PW009',
    severity: RULES.PW009.defaultSeverity,
    confidence: 'high',
    workload: input.workload,
    container: { kind: input.container.kind, name: input.container.name },
    image: input.container.image,
    message: `${stalePods} pod(s) run ${[...stale.keys()].map(short).join(', ')} of ${input.container.image} but the registry now serves ${short(served.digest)}; with ${input.policy}, restarts${nodeText} keep the old build`,
    remediation: RULES.PW009.remediation,
    evidence,
  };
  if (input.location !== undefined) finding.location = input.location;
  return finding;
}
