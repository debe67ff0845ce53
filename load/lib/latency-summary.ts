/** Latencies summed up as p50, p95, p99 (nearest rank), max and mean, in milliseconds. */
import { nearestRank, sortedAscending } from './percentile.js';

export interface Summary {
  readonly count: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = sortedAscending(values);
  const rank = (p: number) => nearestRank(sorted, p);
  const sum = sorted.reduce((total, value) => total + value, 0);
  return {
    count: sorted.length,
    p50: round(rank(50)),
    p95: round(rank(95)),
    p99: round(rank(99)),
    max: round(sorted[sorted.length - 1] ?? Number.NaN),
    mean: round(sum / sorted.length),
  };
}

const round = (value: number) => Math.round(value * 100) / 100;
