import type { ImageChange } from '#shared/intake/model.ts';
import type { NodeReport } from '#shared/prepull/node-report.ts';

// What pullwarden remembers between events. One DynamoDB table holds it on AWS and in the local stack;
// the domain only sees these operations.

export type ClaimResult = 'claimed' | 'duplicate' | 'in-progress';

export interface TagUpdate {
  /** The digest the tag pointed to before this push, if any. */
  previousDigest: string | undefined;
  /** The tag pointed to another digest before. */
  tagMoved: boolean;
  /** A newer push of this tag was recorded already; this one is out of date. */
  stale: boolean;
}

export interface WarmSetEntry {
  registry: string;
  repository: string;
  tag?: string;
  digest: string;
  mediaType?: string;
  reason: string;
  selectedBy: string;
  firstRequestedAt: string;
  lastRequestedAt: string;
}

export interface RequestMarker {
  digest: string;
  requestedAt: string;
}

export interface StoredNodeReport {
  report: NodeReport;
  /** When pullwarden stored it, by its own clock: freshness does not depend on the node's. */
  receivedAt: string;
  /** When it stops counting; the table's TTL removes it some time after. */
  expiresAt: string;
}

/** A report that would not fit in one item of the state table even compressed. */
export class NodeReportTooLargeError extends Error {
  override readonly name = 'NodeReportTooLargeError';
}

export interface StateStore {
  /** Starts processing `key` once: later claims within `windowSeconds` are duplicates. */
  claim(key: string, now: Date, leaseSeconds: number): Promise<ClaimResult>;
  complete(key: string, now: Date, windowSeconds: number): Promise<void>;
  /** Gives a claim back after a failure so a redelivery is processed. */
  release(key: string): Promise<void>;

  /** Points `registry/repository:tag` at the pushed digest unless a newer push got there first. */
  recordPush(change: ImageChange & { tag: string; digest: string }): Promise<TagUpdate>;
  recordDeletion(change: ImageChange): Promise<void>;

  /** The newest digest requested for a tag on a node group (what supersedes older requests). */
  markRequested(nodeGroup: string, image: string, marker: RequestMarker): Promise<void>;
  latestRequest(nodeGroup: string, image: string): Promise<RequestMarker | undefined>;

  /** Adds or refreshes a warm set entry; an entry for an older request never replaces a newer one. */
  putWarmSetEntry(nodeGroup: string, entry: WarmSetEntry): Promise<'added' | 'refreshed' | 'stale'>;
  warmSet(nodeGroup: string): Promise<WarmSetEntry[]>;

  /** Records the SSM command sent for a node group and digest; false when one was recorded before. */
  recordCommand(nodeGroup: string, digest: string, commandId: string, now: Date): Promise<boolean>;
  commandFor(nodeGroup: string, digest: string): Promise<string | undefined>;

  /**
   * Stores a node's report, replacing the node's previous one, unless a report with the same or a
   * higher sequence is stored (`stale`: nothing changes). Throws NodeReportTooLargeError.
   */
  putNodeReport(
    report: NodeReport,
    receivedAt: Date,
    retainSeconds: number,
  ): Promise<'stored' | 'stale'>;
  /** The newest stored report of every node of the node group, leaving out those expired `at`. */
  nodeReports(nodeGroup: string, at: Date): Promise<StoredNodeReport[]>;
}

/** The key a warm set entry and a request marker use: by tag when there is one, else by digest. */
export function imageKey(image: {
  registry: string;
  repository: string;
  tag?: string | undefined;
  digest: string;
}): string {
  const name = `${image.registry}/${image.repository}`;
  return image.tag === undefined ? `${name}@${image.digest}` : `${name}:${image.tag}`;
}
