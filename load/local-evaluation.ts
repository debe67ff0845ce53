/**
 * `npm run bench:local`: what a check costs in the TypeScript client's local
 * evaluator (clients/ts/local-evaluator.ts) against a `Map.get` in the same
 * process and run (issue 15: at most 2 x). Writes
 * load/results/local-evaluation.json and .md.
 *
 * BENCH_CUSTOMERS customers (default 10,000) with five features each are
 * held by the evaluator, filled through a stand-in of the entitlements
 * client (the lookup is what is measured, not the fill); the reference is a
 * Map of the same customer ids to an answer. Each round times
 * BENCH_LOOKUPS lookups (default 2,000,000) of customers in a fixed random
 * order, the reference and the evaluator interleaved, and the median of
 * BENCH_ROUNDS rounds (default 7) is reported. The answers are summed so the
 * loops cannot be optimised away. Then the same for the Python client
 * (load/local_evaluation.py, `allowed_for(feature).get` and `is_allowed`
 * against `dict.get`), run with the client tools' Python, and for the Go
 * client (`go test -bench` in clients/go: `Feature(feature).IsAllowed` and
 * `IsAllowed` against a map index).
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { create } from '@bufbuild/protobuf';
import type { Client } from '@connectrpc/connect';
import {
  EntitlementSchema,
  type EntitlementsService,
  ListEntitlementsResponseSchema,
  ProjectChangeKind,
  WatchProjectChangesResponseSchema,
} from '../clients/ts/gen/billing/v1/entitlements_pb.js';
import { LocalEvaluator } from '../clients/ts/local-evaluator.js';
import {
  ensureGoClientTools,
  ensurePythonClientTools,
  GO_CLIENT_DIR,
} from '../scripts/lib/client-tools.js';
import { REPO_ROOT } from '../scripts/lib/local-services.js';
import { runChild } from '../test/helpers/client-smoke.js';

const customers = Number(process.env.BENCH_CUSTOMERS ?? 10_000);
const lookups = Number(process.env.BENCH_LOOKUPS ?? 2_000_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 7);
const features = ['reports', 'seats', 'api', 'export', 'sso'];
const budgetRatio = 2;

/** Answers every customer with the five features; a feed that opens and then stays quiet. */
function standIn(signal: AbortSignal): Client<typeof EntitlementsService> {
  const entitlements = features.map((feature) =>
    create(EntitlementSchema, { feature, allowed: true }),
  );
  const client = {
    listEntitlements: async () =>
      create(ListEntitlementsResponseSchema, { entitlements, version: 1n }),
    watchProjectChanges: async function* () {
      yield create(WatchProjectChangesResponseSchema, {
        kind: ProjectChangeKind.READY,
        position: '1-0',
      });
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    },
  };
  return client as unknown as Client<typeof EntitlementsService>;
}

function timeNs(run: () => number): { nsPerLookup: number; sum: number } {
  const started = process.hrtime.bigint();
  const sum = run();
  return { nsPerLookup: Number(process.hrtime.bigint() - started) / lookups, sum };
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

async function main(): Promise<void> {
  const stop = new AbortController();
  const evaluator = new LocalEvaluator({
    entitlements: standIn(stop.signal),
    maxCustomers: customers,
  });
  await evaluator.whenReady();
  const ids = Array.from({ length: customers }, (_, n) => `customer-${n}`);
  for (const id of ids) await evaluator.check(id, 'reports');
  const reference = new Map(ids.map((id) => [id, true]));
  // A fixed random order of customers, the same for both.
  const order = Array.from(
    { length: lookups },
    () => ids[Math.floor(Math.random() * customers)] ?? '',
  );

  const mapLoop = () => {
    let sum = 0;
    for (let i = 0; i < lookups; i += 1) if (reference.get(order[i] ?? '') === true) sum += 1;
    return sum;
  };
  const localLoop = () => {
    let sum = 0;
    for (let i = 0; i < lookups; i += 1)
      if (evaluator.isAllowed(order[i] ?? '', 'reports')) sum += 1;
    return sum;
  };
  timeNs(mapLoop); // warm-up: both loops optimised before the first timed round
  timeNs(localLoop);
  const mapNs: number[] = [];
  const localNs: number[] = [];
  for (let round = 0; round < rounds; round += 1) {
    const map = timeNs(mapLoop);
    const local = timeNs(localLoop);
    if (map.sum !== lookups || local.sum !== lookups) throw new Error('a lookup missed');
    mapNs.push(map.nsPerLookup);
    localNs.push(local.nsPerLookup);
  }
  stop.abort();
  evaluator.close();

  const ratios = mapNs.map((ns, i) => (localNs[i] ?? Number.NaN) / ns);
  const python = await pythonFigures();
  const go = await goFigures();
  const result = {
    measuredAt: new Date().toISOString(),
    customers,
    lookups,
    rounds,
    mapGetNs: round2(median(mapNs)),
    localCheckNs: round2(median(localNs)),
    ratio: round2(median(ratios)),
    /** One per round, as text: the results files stay as the formatter writes them. */
    ratios: ratios.map(round2).join(', '),
    budget: { ratio: budgetRatio, met: median(ratios) <= budgetRatio },
    python: {
      dictGetNs: python.ns.dict,
      allowedForNs: python.ns.allowed_for,
      isAllowedNs: python.ns.is_allowed,
      ratio: python.ratio.allowed_for,
      isAllowedRatio: python.ratio.is_allowed,
      met: python.ratio.allowed_for <= budgetRatio,
    },
    go: {
      ...go,
      ratio: round2(go.featureNs / go.mapIndexNs),
      isAllowedRatio: round2(go.isAllowedNs / go.mapIndexNs),
      met: go.featureNs / go.mapIndexNs <= budgetRatio,
    },
  };
  const folder = path.join(REPO_ROOT, 'load', 'results');
  await writeFile(
    path.join(folder, 'local-evaluation.json'),
    `${JSON.stringify(result, null, 2)}\n`,
  );
  await writeFile(path.join(folder, 'local-evaluation.md'), markdown(result));
  console.log(markdown(result));
}

const round2 = (value: number) => Math.round(value * 100) / 100;

interface GoFigures {
  readonly mapIndexNs: number;
  /** `evaluator.Feature(feature).IsAllowed(customer)`, the hot loop's check. */
  readonly featureNs: number;
  /** `evaluator.IsAllowed(customer, feature)`. */
  readonly isAllowedNs: number;
}

/** Medians of `go test -bench` over `rounds` counts, in ns per lookup. */
async function goFigures(): Promise<GoFigures> {
  await ensureGoClientTools();
  const run = await runChild(
    'go',
    [
      'test',
      '-run',
      '^$',
      '-bench',
      'LocalCheck|MapLookup',
      '-benchtime',
      '2000000x',
      '-count',
      String(rounds),
      '.',
    ],
    { cwd: GO_CLIENT_DIR, env: { ...process.env, GOFLAGS: '-mod=readonly', GOWORK: 'off' } },
  );
  if (run.code !== 0) throw new Error(`go test -bench failed:\n${run.output}`);
  const nsOf = (name: string) =>
    median(
      [
        ...run.output.matchAll(
          new RegExp(`^Benchmark${name}-\\d+\\s+\\d+\\s+([\\d.]+) ns/op`, 'gm'),
        ),
      ].map((m) => Number(m[1])),
    );
  return {
    mapIndexNs: round2(nsOf('MapLookup')),
    featureNs: round2(nsOf('LocalCheck/Feature')),
    isAllowedNs: round2(nsOf('LocalCheck/IsAllowed')),
  };
}

interface PythonFigures {
  readonly ns: { readonly dict: number; readonly allowed_for: number; readonly is_allowed: number };
  readonly ratio: { readonly allowed_for: number; readonly is_allowed: number };
}

async function pythonFigures(): Promise<PythonFigures> {
  const venvBin = await ensurePythonClientTools();
  const client = path.join(REPO_ROOT, 'clients', 'python');
  const run = await runChild(path.join(venvBin, 'python'), ['load/local_evaluation.py'], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      PYTHONDONTWRITEBYTECODE: '1',
      PYTHONPATH: `${path.join(client, 'gen')}:${client}`,
      BENCH_CUSTOMERS: String(customers),
      BENCH_ROUNDS: String(rounds),
    },
  });
  if (run.code !== 0) throw new Error(`load/local_evaluation.py failed:\n${run.output}`);
  const line = run.output.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as PythonFigures;
}

function markdown(r: {
  measuredAt: string;
  customers: number;
  lookups: number;
  rounds: number;
  mapGetNs: number;
  localCheckNs: number;
  ratio: number;
  ratios: string;
  budget: { ratio: number; met: boolean };
  python: {
    dictGetNs: number;
    allowedForNs: number;
    isAllowedNs: number;
    ratio: number;
    isAllowedRatio: number;
    met: boolean;
  };
  go: GoFigures & { ratio: number; isAllowedRatio: number; met: boolean };
}): string {
  return [
    '# Local evaluation (TypeScript client)',
    '',
    `Measured ${r.measuredAt}: ${r.customers} customers held, ${r.lookups} lookups a round, median of ${r.rounds} interleaved rounds.`,
    '',
    '| lookup | ns per lookup |',
    '|---|---|',
    `| \`Map.get\` (reference) | ${r.mapGetNs} |`,
    `| \`LocalEvaluator.isAllowed\` | ${r.localCheckNs} |`,
    '',
    `Ratio ${r.ratio} x (rounds: ${r.ratios}); budget <= ${r.budget.ratio} x: ${r.budget.met ? 'met' : 'not met'}.`,
    '',
    '## Python client',
    '',
    '| lookup | ns per lookup |',
    '|---|---|',
    `| \`dict.get\` (reference) | ${r.python.dictGetNs} |`,
    `| \`LocalEvaluator.allowed_for("reports").get\` (the hot path) | ${r.python.allowedForNs} |`,
    `| \`LocalEvaluator.is_allowed\` (a method call) | ${r.python.isAllowedNs} |`,
    '',
    `Ratio ${r.python.ratio} x (\`is_allowed\`: ${r.python.isAllowedRatio} x); budget <= ${r.budget.ratio} x: ${r.python.met ? 'met' : 'not met'}.`,
    '',
    '## Go client',
    '',
    '| lookup | ns per lookup |',
    '|---|---|',
    `| \`m[key]\` (reference) | ${r.go.mapIndexNs} |`,
    `| \`LocalEvaluator.Feature("reports").IsAllowed\` (the hot path) | ${r.go.featureNs} |`,
    `| \`LocalEvaluator.IsAllowed\` (feature by name) | ${r.go.isAllowedNs} |`,
    '',
    `Ratio ${r.go.ratio} x (\`IsAllowed\`: ${r.go.isAllowedRatio} x); budget <= ${r.budget.ratio} x: ${r.go.met ? 'met' : 'not met'}.`,
    '',
  ].join('\n');
}

await main();
