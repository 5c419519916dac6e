// Figures the benchmarks print.

/** The sample at `share` (0.5 for the median, 0.99 for p99) of samples sorted ascending. */
export function percentile(sorted: readonly number[], share: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(share * sorted.length) - 1)] ?? Number.NaN;
}
