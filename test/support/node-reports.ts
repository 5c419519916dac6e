import {
  NODE_REPORT_SCHEMA,
  type NodeImage,
  type NodeReport,
} from '#shared/prepull/node-report.ts';
import { imageOf } from '#shared/prepull/warm-set-http.ts';
import type { StateStore, StoredNodeReport, WarmSetEntry } from '#shared/state/store.ts';

// Warm-set entries and node reports as the dispatcher and the node agents make them, and the state
// store's node-report operations in memory with DynamoStateStore's rules (a report replaces the node's
// only with a higher sequence; an expired one counts as absent).

export const DIGEST_API = `sha256:${'a1'.repeat(32)}`;
export const DIGEST_WORKER = `sha256:${'b2'.repeat(32)}`;
export const DIGEST_PAUSE = `sha256:${'c3'.repeat(32)}`;
export const DIGEST_OLD_API = `sha256:${'d4'.repeat(32)}`;

export function warmSetEntry(
  repository: string,
  tag: string | undefined,
  digest: string,
  registry = 'registry.example.com',
): WarmSetEntry {
  return {
    registry,
    repository,
    ...(tag === undefined ? {} : { tag }),
    digest,
    reason: 'push',
    selectedBy: 'team-releases',
    firstRequestedAt: '2026-03-01T10:00:00.000Z',
    lastRequestedAt: '2026-03-01T10:00:00.000Z',
  };
}

/** The warm set the tests share: two tagged images and one by digest only. */
export const WARM_SET: WarmSetEntry[] = [
  warmSetEntry('team/api', '1.4.0', DIGEST_API),
  warmSetEntry('team/worker', '2.0.0', DIGEST_WORKER),
  warmSetEntry('pause', undefined, DIGEST_PAUSE, 'registry.k8s.io'),
];
export const [API, WORKER, PAUSE] = WARM_SET.map(imageOf) as [string, string, string];
export const OLD_API = `registry.example.com/team/api:1.3.0@${DIGEST_OLD_API}`;

/** An image entry of a report; the digest is the one the image names. */
export function held(image: string, state: NodeImage['state'], extra: Partial<NodeImage> = {}) {
  return { image, digest: image.slice(image.lastIndexOf('@') + 1), state, ...extra } as NodeImage;
}

export function nodeReport(
  node: string,
  images: NodeImage[],
  extra: Partial<NodeReport> = {},
): NodeReport {
  return {
    schema: NODE_REPORT_SCHEMA,
    nodeGroup: 'general',
    node,
    sequence: 1_772_360_000_000,
    reportedAt: '2026-03-01T10:20:00.000Z',
    agent: { version: '0.1.0', runtime: 'containerd 1.7.27' },
    images,
    ...extra,
  };
}

export class MemoryNodeReports
  implements Pick<StateStore, 'warmSet' | 'putNodeReport' | 'nodeReports'>
{
  readonly warmSets = new Map<string, WarmSetEntry[]>();
  readonly reports = new Map<string, StoredNodeReport>();
  puts = 0;

  async warmSet(nodeGroup: string): Promise<WarmSetEntry[]> {
    return [...(this.warmSets.get(nodeGroup) ?? [])];
  }

  async putNodeReport(
    report: NodeReport,
    receivedAt: Date,
    retainSeconds: number,
  ): Promise<'stored' | 'stale'> {
    this.puts++;
    const key = `${report.nodeGroup}/${report.node}`;
    const existing = this.reports.get(key);
    if (
      existing !== undefined &&
      existing.report.sequence >= report.sequence &&
      Date.parse(existing.expiresAt) > receivedAt.getTime()
    ) {
      return 'stale';
    }
    this.reports.set(key, {
      report: structuredClone(report),
      receivedAt: receivedAt.toISOString(),
      expiresAt: new Date(receivedAt.getTime() + retainSeconds * 1000).toISOString(),
    });
    return 'stored';
  }

  async nodeReports(nodeGroup: string, at: Date): Promise<StoredNodeReport[]> {
    return [...this.reports.values()].filter(
      (stored) =>
        stored.report.nodeGroup === nodeGroup && Date.parse(stored.expiresAt) > at.getTime(),
    );
  }
}
