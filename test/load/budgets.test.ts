/**
 * Ratios to a reference measured in the same run, and the budgets judged
 * on them (load/lib/results.ts), as usage.md reports them: a ratio is taken
 * only against the reference at the same concurrency.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import {
  addRatiosTo,
  addReferenceRatios,
  judgeBudgets,
  type Result,
  writeResults,
} from '../../load/lib/results.js';

const row = (scenario: string, concurrency: number, rps: number): Result => ({
  scenario,
  description: scenario,
  concurrency,
  requests: rps,
  rps,
  p50Ms: 1,
  p95Ms: 2,
  p99Ms: 3,
  errors: 0,
});

const budget = { budget: 'track >= 0.5 x insert', scenario: 'track', minimum: 0.5 };

/** Rows of [scenario, concurrency, req/s], with track's ratios to insert added. */
function measured(...rows: [string, number, number][]): Result[] {
  const results = rows.map(([scenario, concurrency, rps]) => row(scenario, concurrency, rps));
  addRatiosTo(results, 'track', 'insert');
  return results;
}

test('a ratio is req/s over the reference at the same concurrency', (t) => {
  const results = measured(
    ['insert', 1, 400],
    ['insert', 16, 1000],
    ['track', 1, 300],
    ['track', 16, 300],
  );
  t.deepEqual(
    results.map((r) => r.ratio),
    [
      undefined,
      undefined,
      { reference: 'insert', value: 0.75 },
      { reference: 'insert', value: 0.3 },
    ],
  );
});

test('no ratio without the reference at that concurrency, or when it answered nothing', (t) => {
  const results = measured(['insert', 1, 0], ['track', 1, 300], ['track', 16, 300]);
  t.is(results[1]?.ratio, undefined);
  t.is(results[2]?.ratio, undefined);
});

test('a budget holds at the minimum and above, not below', (t) => {
  const results = measured(
    ['insert', 1, 100],
    ['track', 1, 50],
    ['insert', 16, 100],
    ['track', 16, 49],
  );
  t.deepEqual(
    judgeBudgets(results, [budget]).map((v) => [v.concurrency, v.ratio, v.held]),
    [
      [1, 0.5, true],
      [16, 0.49, false],
    ],
  );
});

test('a scenario without a ratio (it did not run) has no verdict', (t) => {
  t.deepEqual(judgeBudgets([row('insert', 1, 100)], [budget]), []);
});

test('the results files carry the ratios and every verdict', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'budgets-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const results = measured(['insert', 1, 100], ['track', 1, 20]);
  await writeResults(dir, 'usage', results, ['a note'], [budget]);
  const json = JSON.parse(await readFile(path.join(dir, 'usage.json'), 'utf8')) as {
    budgets: { held: boolean; ratio: number }[];
  };
  t.deepEqual(
    json.budgets.map((v) => [v.ratio, v.held]),
    [[0.2, false]],
  );
  const markdown = await readFile(path.join(dir, 'usage.md'), 'utf8');
  t.regex(markdown, /\| track \| 1 \| 20 \|.*\| 0\.2 to insert \|/);
  t.regex(
    markdown,
    /\| track >= 0\.5 x insert \| track \| 1 \| 0\.2 to insert \| 0\.5 \| \*\*no\*\* \|/,
  );
});

test('every scenario gets req/s and p99 ratios to each reference server at its concurrency', async (t) => {
  const withP99 = (result: Result, p99Ms: number): Result => ({ ...result, p99Ms });
  const results = [
    withP99(row('grpc-go', 1, 1000), 1),
    withP99(row('grpc-js', 1, 500), 2),
    withP99(row('grpc-js', 10, 800), 4),
    withP99(row('check', 1, 400), 3),
    withP99(row('check', 10, 400), 6),
    { ...withP99(row('check@500/s', 10, 500), 1), offeredRps: 500 },
  ];
  addReferenceRatios(results, ['grpc-go', 'grpc-js']);
  const ratios = Object.fromEntries(
    results.map((r) => [`${r.scenario}@${r.concurrency}`, r.references]),
  );
  t.deepEqual(ratios['check@1'], {
    'grpc-go': { rps: 0.4, p99: 3 },
    'grpc-js': { rps: 0.8, p99: 1.5 },
  });
  // No grpc-go figure at 10 callers: only the grpc-js ratio.
  t.deepEqual(ratios['check@10'], { 'grpc-js': { rps: 0.5, p99: 1.5 } });
  // A fixed offered rate is not a throughput.
  t.is(ratios['check@500/s@10'], undefined);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'references-'));
  try {
    await writeResults(dir, 'results', results, []);
    const markdown = await readFile(path.join(dir, 'results.md'), 'utf8');
    t.regex(markdown, /\| x grpc-go \(req\/s \/ p99\) \| x grpc-js \(req\/s \/ p99\) \|/);
    t.regex(markdown, /\| check \| 1 \| 400 \|.*\| 0\.4 \/ 3 \| 0\.8 \/ 1\.5 \|/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
