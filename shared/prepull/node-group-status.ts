import { tryParseImageReference } from '#shared/image/reference.ts';
import type { StoredNodeReport, WarmSetEntry } from '#shared/state/store.ts';
import { compareText } from '#shared/text/order.ts';
import {
  type ImageStatus,
  NODE_GROUP_STATUS_SCHEMA,
  type NodeGroupStatus,
  type NodeGroupStatusNode,
  type NodeImage,
  type NodePullFailure,
  nodeGroupStatusSchema,
} from './node-report.ts';
import { imageOf } from './warm-set-http.ts';

// A node group's pre-pull status: every warm-set image (and every image nodes still report that left
// the warm set) with the fresh nodes that hold it, pull it, failed to pull it or do not report it.
// Stale nodes are listed, not counted: what they last said may no longer hold.

export interface NodeGroupStatusInput {
  nodeGroup: string;
  warmSet: readonly WarmSetEntry[];
  reports: readonly StoredNodeReport[];
  now: Date;
  staleAfterSeconds: number;
}

/** One node's entry for an image, with when the node said so. */
interface Holding {
  node: string;
  reportedAt: string;
  image: NodeImage;
}

function statusNode({ report, receivedAt }: StoredNodeReport): NodeGroupStatusNode {
  return {
    node: report.node,
    ...(report.instanceId === undefined ? {} : { instanceId: report.instanceId }),
    sequence: report.sequence,
    reportedAt: report.reportedAt,
    receivedAt,
    ...(report.warmSetEtag === undefined ? {} : { warmSetEtag: report.warmSetEtag }),
    agent: report.agent,
    ...(report.disk === undefined ? {} : { disk: report.disk }),
  };
}

function median(sorted: readonly number[]): number {
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : Math.round(((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2);
}

function imageStatus(
  identity: { image: string; digest: string; tag: string | undefined; inWarmSet: boolean },
  holdings: readonly Holding[],
  freshNodes: readonly string[],
): ImageStatus {
  const present: string[] = [];
  const pulling: string[] = [];
  const failed: NodePullFailure[] = [];
  const durations: number[] = [];
  let pinned = 0;
  for (const { node, reportedAt, image } of holdings) {
    if (image.state === 'present') {
      present.push(node);
      if (image.pinned === true) pinned++;
      if (image.durationMs !== undefined) durations.push(image.durationMs);
    } else if (image.state === 'pulling') {
      pulling.push(node);
    } else {
      failed.push({
        node,
        cause: image.cause ?? 'unknown',
        ...(image.reason === undefined ? {} : { reason: image.reason }),
        at: reportedAt,
        ...(image.attempts === undefined ? {} : { attempts: image.attempts }),
      });
    }
  }
  const reporting = new Set(holdings.map((holding) => holding.node));
  durations.sort((a, b) => a - b);
  return {
    image: identity.image,
    digest: identity.digest,
    ...(identity.tag === undefined ? {} : { tag: identity.tag }),
    inWarmSet: identity.inWarmSet,
    present,
    pulling,
    failed,
    // An image that left the warm set is not wanted: a node without it is not missing anything.
    missing: identity.inWarmSet ? freshNodes.filter((node) => !reporting.has(node)) : [],
    pinned,
    ...(durations.length === 0
      ? {}
      : {
          pullDurationMs: {
            median: median(durations),
            max: durations.at(-1) as number,
            samples: durations.length,
          },
        }),
  };
}

function tagOf(image: string): string | undefined {
  const parsed = tryParseImageReference(image);
  return parsed instanceof Error ? undefined : parsed.tag;
}

const byNode = (a: StoredNodeReport, b: StoredNodeReport) =>
  compareText(a.report.node, b.report.node);

export function nodeGroupStatus(input: NodeGroupStatusInput): NodeGroupStatus {
  const now = input.now.getTime();
  const staleBefore = now - input.staleAfterSeconds * 1000;
  const fresh: StoredNodeReport[] = [];
  const stale: StoredNodeReport[] = [];
  for (const stored of input.reports) {
    // The table's TTL removes expired reports late; until then they are not there for the status.
    if (Date.parse(stored.expiresAt) <= now) continue;
    (Date.parse(stored.receivedAt) < staleBefore ? stale : fresh).push(stored);
  }
  fresh.sort(byNode);
  stale.sort(byNode);

  const holdings = new Map<string, Holding[]>();
  for (const { report } of fresh) {
    const seen = new Set<string>();
    for (const image of report.images) {
      // A node names an image once; should it repeat one, its first entry counts.
      if (seen.has(image.image)) continue;
      seen.add(image.image);
      const holding = { node: report.node, reportedAt: report.reportedAt, image };
      const list = holdings.get(image.image);
      if (list === undefined) holdings.set(image.image, [holding]);
      else list.push(holding);
    }
  }

  const freshNodes = fresh.map((stored) => stored.report.node);
  const images: ImageStatus[] = [];
  const wanted = new Set<string>();
  const warmSet = input.warmSet
    .map((entry) => ({ entry, image: imageOf(entry) }))
    .sort((a, b) => compareText(a.image, b.image));
  for (const { entry, image } of warmSet) {
    wanted.add(image);
    images.push(
      imageStatus(
        { image, digest: entry.digest, tag: entry.tag, inWarmSet: true },
        holdings.get(image) ?? [],
        freshNodes,
      ),
    );
  }
  const leftOver = [...holdings].filter(([image]) => !wanted.has(image));
  leftOver.sort(([a], [b]) => compareText(a, b));
  for (const [image, held] of leftOver) {
    const digest = (held[0] as Holding).image.digest;
    images.push(
      imageStatus({ image, digest, tag: tagOf(image), inWarmSet: false }, held, freshNodes),
    );
  }

  return {
    schema: NODE_GROUP_STATUS_SCHEMA,
    nodeGroup: input.nodeGroup,
    generatedAt: input.now.toISOString(),
    staleAfterSeconds: input.staleAfterSeconds,
    nodes: fresh.map(statusNode),
    staleNodes: stale.map(statusNode),
    images,
  };
}

/** A status document as a client receives it; the reason names the first field that is not one. */
export function parseNodeGroupStatus(
  document: unknown,
): { ok: true; status: NodeGroupStatus } | { ok: false; reason: string } {
  const parsed = nodeGroupStatusSchema.safeParse(document);
  if (parsed.success) return { ok: true, status: parsed.data };
  const issue = parsed.error.issues[0];
  return {
    ok: false,
    reason: `${issue?.path.join('.') || 'the document'}: ${issue?.message ?? `not a ${NODE_GROUP_STATUS_SCHEMA}`}`,
  };
}
