/**
 * The results of a benchmark run at several data sizes (load/lib/size-runs.ts):
 * ratios to the smallest size and the budget comparing the largest with it,
 * whatever order the sizes were given in.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import type { Budget, Result } from '../../load/lib/results.js';
import { writeSizeResults } from '../../load/lib/size-runs.js';

const scenarioName = (size: number) => `ingest-${size}`;

const row = (size: number, rps: number): Result => ({
  scenario: scenarioName(size),
  description: `${size} subscriptions`,
  concurrency: 16,
  requests: rps * 10,
  rps,
  p50Ms: 1,
  p95Ms: 2,
  p99Ms: 3,
  errors: 0,
});

const budgets = (smallest: number, largest: number): Budget[] => [
  {
    budget: `at ${largest} >= 0.8 x at ${smallest}`,
    scenario: scenarioName(largest),
    minimum: 0.8,
  },
];

interface Written {
  budgets?: { budget: string; scenario: string; held: boolean }[];
  results: Result[];
}

async function written(
  t: { teardown(fn: () => Promise<void>): void },
  sizes: number[],
  results: Result[],
): Promise<Written> {
  const resultsDir = await mkdtemp(path.join(os.tmpdir(), 'size-runs-'));
  t.teardown(() => rm(resultsDir, { recursive: true, force: true }));
  await writeSizeResults({
    resultsDir,
    name: 'ingest',
    sizes,
    scenarioName,
    results,
    notes: [],
    rate: 'events/s',
    budgets,
  });
  return JSON.parse(await readFile(path.join(resultsDir, 'ingest.json'), 'utf8')) as Written;
}

test('sizes given largest first: ratios are to the smallest, the budget judges the largest', async (t) => {
  const file = await written(t, [100_000, 1000], [row(100_000, 70), row(1000, 100)]);
  const ratios = Object.fromEntries(file.results.map((r) => [r.scenario, r.ratio?.value]));
  t.deepEqual(ratios, { 'ingest-100000': 0.7, 'ingest-1000': 1 });
  t.deepEqual(
    file.budgets?.map(({ budget, scenario, held }) => ({ budget, scenario, held })),
    [{ budget: 'at 100000 >= 0.8 x at 1000', scenario: 'ingest-100000', held: false }],
  );
});

test('a run of one size holds no budget (it would compare the size with itself)', async (t) => {
  const file = await written(t, [1000], [row(1000, 100)]);
  t.is(file.budgets, undefined);
});
