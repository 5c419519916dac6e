import type { Finding } from '#shared/drift/model.ts';
import type { FindingOrigin, FindingsReader, StoredFinding } from './model.ts';

// Where findings about the live cluster are kept. Raising is idempotent (a finding is keyed by its id)
// and only moves `lastSeenAt` forward; closing keeps the finding, marked closed, for a while.

export interface FindingsStore extends FindingsReader {
  /**
   * Opens new findings, reopens closed ones and refreshes open ones, as seen at `now`; returns how many
   * were written. `open`, when the caller has read them, lets unchanged open findings be skipped.
   */
  raise(
    findings: readonly Finding[],
    origin: FindingOrigin,
    now: Date,
    open?: ReadonlyMap<string, StoredFinding>,
  ): Promise<number>;
  /**
   * Closes these open findings unless they were seen again at or after `seenBefore` (an event may
   * raise one while a sweep runs). Returns how many were closed.
   */
  close(
    findings: readonly Pick<StoredFinding, 'id' | 'workload'>[],
    now: Date,
    seenBefore: Date,
  ): Promise<number>;
}
