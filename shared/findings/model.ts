import { createHash } from 'node:crypto';
import type { Finding, RuleId, Severity } from '#shared/drift/model.ts';

// Findings pullwarden keeps about a live cluster: raised by the drift sweep, by pushes (PW009) and by
// cluster events (PW010, PW011), closed when they stop holding, and read at GET /v1/findings.

export const FINDING_STATUSES = ['open', 'closed'] as const;
export type FindingStatus = (typeof FINDING_STATUSES)[number];

/** What raised a finding last: the scheduled sweep, a registry push, or a cluster event. */
export const FINDING_ORIGINS = ['sweep', 'push', 'event'] as const;
export type FindingOrigin = (typeof FINDING_ORIGINS)[number];

export interface StoredFinding extends Finding {
  /** Stable for one rule, workload, container and image: a finding that comes back reopens. */
  id: string;
  status: FindingStatus;
  origin: FindingOrigin;
  /** ISO 8601 times. */
  firstSeenAt: string;
  lastSeenAt: string;
  closedAt?: string;
}

export interface FindingsFilter {
  /** Only these namespaces; empty = all. */
  namespaces?: readonly string[];
  /** Only these rules; empty = all. */
  rules?: readonly RuleId[];
  /** Only findings at or above this severity. */
  minSeverity?: Severity;
  /** `Kind/name` glob (`Deployment/api-*`), or a bare name glob matching any kind. */
  workload?: string;
  /** Default `open`. */
  status?: FindingStatus | 'all';
}

export interface FindingsReader {
  listFindings(filter: FindingsFilter): Promise<StoredFinding[]>;
}

/** The identity of a finding: rule, workload, container and image. */
export function findingId(
  finding: Pick<Finding, 'ruleId' | 'workload' | 'container' | 'image'>,
): string {
  const { ruleId, workload, container, image } = finding;
  return createHash('sha256')
    .update(
      [
        ruleId,
        workload.kind,
        workload.namespace,
        workload.name,
        container.kind,
        container.name,
        image,
      ].join('\n'),
    )
    .digest('hex')
    .slice(0, 32);
}
