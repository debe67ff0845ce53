// needs: mongodb redis ghz
/**
 * `npm run bench:usage` (load/usage-benchmarks.ts) end to end, at a tiny
 * scale (1 s runs, 2 callers, no warm-up) against the test run's FerretDB
 * and Redis: every scenario runs and writes its figures, ratios and budget
 * verdicts. It asserts no speed: figures from a shared test machine say
 * nothing; `npm run bench:usage` on a quiet one does.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import type { BudgetVerdict, Result } from '../../load/lib/results.js';
import { nodeEntryArgs } from '../../scripts/lib/node-entry.js';
import { repoRoot } from '../helpers/process.js';
import { requireNeed, testMongoUrl, testRedisUrl } from '../helpers/services.js';

interface Run {
  readonly code: number | null;
  readonly stderr: string;
  readonly results: readonly Result[];
  readonly budgets: readonly BudgetVerdict[];
  readonly markdown: string;
}

let run: Promise<Run>;

test.before(() => {
  requireNeed('ghz');
  run = runBenchmark();
});

async function runBenchmark(): Promise<Run> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-usage-test-'));
  try {
    const child = spawn(process.execPath, nodeEntryArgs('load/usage-benchmarks.ts'), {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH ?? '',
        // The grpc-go reference is built with the Go toolchain, which needs its module cache.
        HOME: process.env.HOME ?? '',
        GHZ_BIN: process.env.GHZ_BIN ?? '',
        MONGODB_URL: testMongoUrl(),
        REDIS_URL: testRedisUrl(),
        BENCH_RESULTS_DIR: dir,
        BENCH_SECONDS: '1',
        BENCH_WARMUP_SECONDS: '0',
        BENCH_ROUNDS: '1',
        BENCH_CONCURRENCY: '2',
        BENCH_WRITE_CONCURRENCY: '2',
        BENCH_USAGE_CUSTOMERS: '3',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    const json = await readFile(path.join(dir, 'usage.json'), 'utf8').catch(() => '{}');
    const written = JSON.parse(json) as { results?: Result[]; budgets?: BudgetVerdict[] };
    const markdown = await readFile(path.join(dir, 'usage.md'), 'utf8').catch(() => '');
    return {
      code,
      stderr,
      results: written.results ?? [],
      budgets: written.budgets ?? [],
      markdown,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The scenario's figures at 2 callers, with at least one call that succeeded. */
function ran(
  t: { log(...values: unknown[]): void },
  got: Run,
  scenario: string,
): Result | undefined {
  const result = got.results.find((r) => r.scenario === scenario && r.concurrency === 2);
  if (!result || result.requests <= result.errors) t.log(got.stderr);
  return result && result.requests > result.errors ? result : undefined;
}

test('TrackUsage, the insert reference and both checks write figures, ratios and verdicts', async (t) => {
  const got = await run;
  for (const scenario of ['insert-reference', 'check-boolean-warm']) {
    t.truthy(ran(t, got, scenario), `${scenario} ran`);
  }
  for (const [scenario, reference] of [
    ['track-usage-one-customer', 'insert-reference'],
    ['track-usage-many-customers', 'insert-reference'],
    ['check-metered-warm', 'check-boolean-warm'],
  ] as const) {
    const result = ran(t, got, scenario);
    t.is(result?.ratio?.reference, reference, `${scenario} ran, as a ratio to ${reference}`);
    const verdict = got.budgets.find((v) => v.scenario === scenario && v.concurrency === 2);
    t.is(typeof verdict?.held, 'boolean', `${scenario} is judged by its budget`);
  }
  t.regex(got.markdown, /\| budget \| scenario \| concurrency \| ratio \| minimum \| held \|/);
});

test('ReserveUsage+CommitReservation pairs write figures and a ratio to the insert rate', async (t) => {
  const got = await run;
  const result = ran(t, got, 'reserve-commit');
  t.is(result?.ratio?.reference, 'insert-reference', 'reserve-commit ran');
  const pairs = ran(t, got, 'track-pair');
  t.is(pairs?.ratio?.reference, 'insert-reference', 'track-pair ran beside it');
  t.is(got.code, 0, 'every scenario ran');
});
