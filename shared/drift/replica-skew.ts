import { readRunningImageId } from '#shared/image/image-id.ts';
import { compareText } from '#shared/text/order.ts';
import { plural } from '#shared/text/plural.ts';
import type { Confidence, Finding, ImageSiteKind, SourceLocation, WorkloadRef } from './model.ts';
import { RULES } from './rules.ts';

// PW008: replicas of one workload running different builds of the same image reference.

/** Digest → node → number of pods, for one container image of one workload. */
export type RunningDigests = Map<string, Map<string, number>>;

export interface RunningContainerKey {
  kind: ImageSiteKind;
  name: string;
  image: string;
}

export interface NodeInfo {
  nodeGroup: string | undefined;
  architecture: string | undefined;
}

/**
 * Tells which multi-arch index a platform manifest belongs to. The registry knows; a cluster dump does
 * not, so the CLI has none and judges by node architecture instead.
 */
export type PlatformIndexLookup = (digest: string) => string | undefined;

export interface SkewInput {
  workload: WorkloadRef;
  container: RunningContainerKey;
  /** Keyed by the raw imageID the pods report. */
  imageIds: RunningDigests;
  nodes: ReadonlyMap<string, NodeInfo>;
  location: SourceLocation | undefined;
  indexOf?: PlatformIndexLookup;
}

const UNKNOWN_ARCH = '';

function shortDigest(digest: string): string {
  const colon = digest.indexOf(':');
  return `${digest.slice(0, colon + 1)}${digest.slice(colon + 1, colon + 13)}`;
}

export function detectReplicaSkew(input: SkewInput): Finding | undefined {
  // Each image ID names one digest, so a single one cannot disagree with itself.
  if (input.imageIds.size < 2) return undefined;
  // digest (after folding platform manifests into their index, where known) → arch → pods
  const byDigest = new Map<string, Map<string, number>>();
  const nodesByDigest = new Map<string, Set<string>>();
  let localIds = 0;
  let pods = 0;
  for (const [imageId, nodes] of input.imageIds) {
    const parsed = readRunningImageId(imageId);
    if (parsed === undefined) continue;
    if (parsed.kind === 'image-id') localIds++;
    const digest = input.indexOf?.(parsed.digest) ?? parsed.digest;
    const arches = byDigest.get(digest) ?? new Map<string, number>();
    byDigest.set(digest, arches);
    const nodeNames = nodesByDigest.get(digest) ?? new Set<string>();
    nodesByDigest.set(digest, nodeNames);
    for (const [node, count] of nodes) {
      const arch = input.nodes.get(node)?.architecture ?? UNKNOWN_ARCH;
      arches.set(arch, (arches.get(arch) ?? 0) + count);
      if (node !== '') nodeNames.add(node);
      pods += count;
    }
  }
  if (byDigest.size < 2) return undefined;

  const evidence: string[] = [];
  let confidence: Confidence = 'high';
  if (input.indexOf === undefined) {
    // Pods on different architectures legitimately run different platform manifests of one index.
    const digestsPerArch = new Map<string, Set<string>>();
    for (const [digest, arches] of byDigest) {
      for (const arch of arches.keys()) {
        const set = digestsPerArch.get(arch) ?? new Set<string>();
        set.add(digest);
        digestsPerArch.set(arch, set);
      }
    }
    const known = [...digestsPerArch].filter(([arch]) => arch !== UNKNOWN_ARCH);
    const unknown = digestsPerArch.get(UNKNOWN_ARCH);
    const skewedArch = known.find(([, digests]) => digests.size > 1);
    if (skewedArch !== undefined) {
      evidence.push(
        `pods on ${skewedArch[0]} nodes alone run ${plural(skewedArch[1].size, 'digest')}`,
      );
    } else if (unknown === undefined) {
      return undefined;
    } else if (known.length === 0 && unknown.size < 2) {
      return undefined;
    } else {
      confidence = 'low';
      evidence.push(
        'whether these digests are platform manifests of one multi-arch index cannot be told: the ' +
          'architecture of some nodes is unknown (add the Node objects to the input)',
      );
    }
  } else {
    evidence.push('platform manifests were folded into their multi-arch index before comparing');
  }
  if (localIds > 0) {
    evidence.push(
      'some pods report a local image ID (sha256:… without repository) instead of a registry digest; ' +
        'those differ from registry digests even for the same image',
    );
    confidence = 'low';
  }

  const ranked = [...byDigest].sort((a, b) => sum(b[1]) - sum(a[1]) || compareText(a[0], b[0]));
  for (const [digest, arches] of ranked) {
    const nodes = [...(nodesByDigest.get(digest) ?? [])].sort();
    const archList = [...arches.keys()].filter((arch) => arch !== UNKNOWN_ARCH).sort();
    const archText = archList.length > 0 ? ` (${archList.join(', ')})` : '';
    const nodeText =
      nodes.length > 0
        ? ` on ${nodes.slice(0, 3).join(', ')}${nodes.length > 3 ? ` and ${nodes.length - 3} more` : ''}`
        : '';
    evidence.push(`${plural(sum(arches), 'pod')} run ${digest}${archText}${nodeText}`);
  }
  const finding: Finding = {
    ruleId: 'PW008',
    severity: RULES.PW008.defaultSeverity,
    confidence,
    workload: input.workload,
    container: { name: input.container.name, kind: input.container.kind },
    image: input.container.image,
    message: `${plural(pods, 'pod')} run ${byDigest.size} different digests of ${input.container.image}: ${ranked
      .map(([digest, arches]) => `${shortDigest(digest)}… ×${sum(arches)}`)
      .join(', ')}`,
    remediation: RULES.PW008.remediation,
    evidence,
  };
  if (input.location !== undefined) finding.location = input.location;
  return finding;
}

function sum(counts: Map<string, number>): number {
  let total = 0;
  for (const count of counts.values()) total += count;
  return total;
}
