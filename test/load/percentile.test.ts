/**
 * The benchmarks' one percentile definition (load/lib/percentile.ts):
 * nearest rank, always a measured value, the same for ghz's calls, the
 * webhook load and the watch latency.
 */
import test from 'ava';
import { nearestRank, sortedAscending } from '../../load/lib/percentile.js';
import { percentiles } from '../../load/lib/results.js';

const oneToHundred = Array.from({ length: 100 }, (_, i) => i + 1);

test('of 1..100, the p-th percentile is p itself', (t) => {
  for (const p of [1, 7, 29, 50, 95, 99, 100]) t.is(nearestRank(oneToHundred, p), p, `p${p}`);
});

test('a rank that is not whole rounds up to the next measured value', (t) => {
  const ten = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
  t.is(nearestRank(ten, 95), 100); // rank 9.5 -> 10
  t.is(nearestRank(ten, 50), 50); // rank 5, exactly
  t.is(nearestRank(ten, 51), 60); // rank 5.1 -> 6
  t.is(nearestRank(ten, 1), 10); // rank 0.1 -> 1: the smallest value, never below it
});

test('one value is every percentile; no values give NaN', (t) => {
  t.is(nearestRank([42], 1), 42);
  t.is(nearestRank([42], 99), 42);
  t.true(Number.isNaN(nearestRank([], 50)));
});

test('sorting is numeric and leaves the caller array alone', (t) => {
  const values = [10, 9, 100, 1];
  t.deepEqual(sortedAscending(values), [1, 9, 10, 100]);
  t.deepEqual(values, [10, 9, 100, 1]);
});

test('results.md figures use the same definition (p99 of 100 calls is the 99th, not the slowest)', (t) => {
  const shuffled = [...oneToHundred].reverse();
  t.deepEqual(percentiles(shuffled), { p50: 50, p95: 95, p99: 99, max: 100 });
});
