// What the kubelet's pull events tell about pre-pulls: per node group and image, how long pulls take and
// how often the image was already on the node. Kept in the state table so "time saved" can be priced
// with the pulls measured before; failures are counted per pod container for PW011.

export interface PullSample {
  nodeGroup: string;
  /** `registry/repository:tag` or `registry/repository@digest`, normalised. */
  image: string;
  /** The image was already on the node (no pull). */
  present: boolean;
  /** Measured pull time, for pulls. */
  pullMs?: number;
}

export interface PullStats {
  pulls: number;
  /** Sum of measured pull times. */
  pullMs: number;
  present: number;
}

export interface FailureCount {
  failures: number;
  /** The latest message that named a cause (back-off events often do not). */
  message: string;
}

export interface PullTelemetry {
  /** Adds one pull or cache hit; returns the totals including it. */
  recordPull(sample: PullSample): Promise<PullStats>;
  /** Counts one failed pull (or back-off) of a pod's container. */
  countFailure(
    pod: { namespace: string; name: string },
    container: string,
    message: string,
    at: Date,
  ): Promise<FailureCount>;
}

/** The average of the pulls measured so far, which a cache hit saved; undefined before the first pull. */
export function averagePullMs(stats: PullStats): number | undefined {
  return stats.pulls === 0 ? undefined : stats.pullMs / stats.pulls;
}
