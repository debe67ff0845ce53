/**
 * The one percentile definition behind every benchmark figure (results.md,
 * watch-latency.md): nearest rank. The p-th percentile of n values is the
 * smallest value that at least p% of the values are at or below, the
 * value of rank ceil(p * n / 100) in ascending order. It is always a
 * measured value, never interpolated, and it is the definition ghz applies
 * to its own OK calls, so ghz's figures and ours agree.
 */

/** The p-th percentile (0 < p <= 100) of values sorted ascending; NaN when there are none. */
export function nearestRank(sortedAscending: readonly number[], p: number): number {
  const n = sortedAscending.length;
  // p * n before dividing: (p / 100) * n is 7.000000000000001 for p = 7, n = 100.
  const rank = Math.min(n, Math.max(1, Math.ceil((p * n) / 100)));
  return sortedAscending[rank - 1] ?? Number.NaN;
}

/** Values sorted ascending, without changing the caller's array. */
export function sortedAscending(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}
