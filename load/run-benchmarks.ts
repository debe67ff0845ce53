/**
 * `npm run bench`: ghz against a real service on loopback, and against the
 * framework ceiling (an empty RPC on the same server stack). Writes
 * load/results/results.json and load/results/results.md with requests per
 * second, p50, p95, p99 and the ratio to the ceiling.
 *
 * The service and ghz share this 2-core machine: ghz is held to one core
 * (--cpus 1), so the figures are what one service process answers with the
 * other core busy generating load.
 *
 * Scenarios: `npm run bench -- check-warm` runs one; no argument runs all.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  ensureGoTool,
  REPO_ROOT,
  startFerretDb,
  startRedis,
} from '../scripts/lib/local-services.js';
import { startApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';

const run = promisify(execFile);
const durationSeconds = Number(process.env.BENCH_SECONDS ?? 10);
const concurrencyLevels = (process.env.BENCH_CONCURRENCY ?? '10,50').split(',').map(Number);

interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly target: 'service' | 'ceiling';
  readonly call: string;
  readonly data: Record<string, unknown>;
  readonly auth: boolean;
}

const scenarios: readonly Scenario[] = [
  {
    name: 'ceiling-empty-rpc',
    description: 'empty RPC on the same framework and listener (the ceiling)',
    target: 'ceiling',
    call: 'grpc.health.v1.Health/Check',
    data: {},
    auth: false,
  },
  {
    name: 'check-warm',
    description: 'CheckEntitlement, cache warm (process memory)',
    target: 'service',
    call: 'billing.v1.EntitlementsService/CheckEntitlement',
    data: { customer_id: 'bench-user', feature: 'reports' },
    auth: true,
  },
];

interface Result {
  readonly scenario: string;
  readonly description: string;
  readonly concurrency: number;
  readonly requests: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  ratioToCeiling?: number;
}

interface GhzReport {
  count: number;
  rps: number;
  latencyDistribution: { percentage: number; latency: number }[] | null;
  statusCodeDistribution: Record<string, number>;
}

async function main(): Promise<void> {
  const only = process.argv[2];
  const ghz = await ensureGoTool('ghz');
  const work = await mkdtemp(path.join(os.tmpdir(), 'bench-'));
  const ferret = await startFerretDb({ dataDir: path.join(work, 'ferretdb') });
  const redis = await startRedis();
  // info: the service's "listening" line tells its port.
  const env = {
    MONGODB_URL: ferret.url,
    MONGODB_DATABASE: 'bench',
    REDIS_URL: redis.url,
    LOG_LEVEL: 'info',
  };
  const apiKey = await seed(env);
  const service = await spawnServer(['--import', 'tsx', 'src/main.ts'], {
    ...env,
    HOST: '127.0.0.1',
    PORT: '0',
  });
  const ceiling = await spawnServer(['--import', 'tsx', 'load/ceiling-server.ts'], { PORT: '0' });
  const results: Result[] = [];
  try {
    for (const scenario of scenarios.filter(
      (s) => !only || s.name === only || s.target === 'ceiling',
    )) {
      const port = scenario.target === 'service' ? service.port : ceiling.port;
      for (const concurrency of concurrencyLevels) {
        // Warm-up: fills caches and JIT; not measured.
        await ghzRun(ghz, scenario, port, apiKey, concurrency, 2);
        const report = await ghzRun(ghz, scenario, port, apiKey, concurrency, durationSeconds);
        results.push(summarize(scenario, concurrency, report));
        process.stderr.write(
          `[bench] ${scenario.name} c=${concurrency}: ${Math.round(report.rps)} rps\n`,
        );
      }
    }
  } finally {
    service.child.kill('SIGTERM');
    ceiling.child.kill('SIGTERM');
    await redis.stop();
    await ferret.stop();
  }
  addRatios(results);
  await writeResults(results);
}

/** Creates a project, a key and a customer with a feature, through the service's own code. */
async function seed(env: Record<string, string>): Promise<string> {
  const logger = createLogger({ level: 'warn' });
  const app = await startApp(loadConfig({ ...env, HOST: '127.0.0.1', PORT: '0' }), logger);
  try {
    const created = await app.projects.create({
      name: 'bench',
      stripeSecretKey: null,
      webhookSigningSecret: null,
      gracePeriodSeconds: 0,
      actor: 'bench',
      reason: 'benchmark',
    });
    await app.grants.grant({
      projectId: created.project._id,
      customerId: 'bench-user',
      feature: 'reports',
      limit: 10,
      expiresAt: null,
      actor: 'bench',
      reason: 'benchmark',
    });
    return created.adminKey.secret;
  } finally {
    await app.stop();
  }
}

async function spawnServer(
  args: string[],
  env: Record<string, string>,
): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let pending = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      for (const line of pending.split('\n')) {
        const match = /"msg":"listening".*"port":(\d+)/.exec(line);
        if (match) resolve(Number(match[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { child, port };
}

async function ghzRun(
  ghz: string,
  scenario: Scenario,
  port: number,
  apiKey: string,
  concurrency: number,
  seconds: number,
): Promise<GhzReport> {
  const args = [
    '--insecure',
    '--protoset',
    path.join(REPO_ROOT, 'gen/descriptors.binpb'),
    '--call',
    scenario.call,
    '--data',
    JSON.stringify(scenario.data),
    '--concurrency',
    String(concurrency),
    '--connections',
    String(Math.min(concurrency, 4)),
    '--duration',
    `${seconds}s`,
    '--cpus',
    '1',
    '--format',
    'json',
  ];
  if (scenario.auth) args.push('--metadata', JSON.stringify({ authorization: `Bearer ${apiKey}` }));
  args.push(`127.0.0.1:${port}`);
  const { stdout } = await run(ghz, args, {
    maxBuffer: 64 * 1024 * 1024,
    timeout: (seconds + 60) * 1000,
  });
  return JSON.parse(stdout) as GhzReport;
}

function summarize(scenario: Scenario, concurrency: number, report: GhzReport): Result {
  const percentile = (p: number) =>
    (report.latencyDistribution?.find((d) => d.percentage === p)?.latency ?? Number.NaN) / 1e6;
  const ok = report.statusCodeDistribution.OK ?? 0;
  return {
    scenario: scenario.name,
    description: scenario.description,
    concurrency,
    requests: report.count,
    rps: Math.round(report.rps),
    p50Ms: round(percentile(50)),
    p95Ms: round(percentile(95)),
    p99Ms: round(percentile(99)),
    errors: report.count - ok,
  };
}

function addRatios(results: Result[]): void {
  for (const result of results) {
    const ceiling = results.find(
      (r) => r.scenario === 'ceiling-empty-rpc' && r.concurrency === result.concurrency,
    );
    if (ceiling && ceiling.rps > 0) result.ratioToCeiling = round(result.rps / ceiling.rps);
  }
}

async function writeResults(results: Result[]): Promise<void> {
  const dir = path.join(REPO_ROOT, 'load/results');
  const file = path.join(dir, 'results.json');
  // Keep the other scenarios' latest figures when only one ran.
  const previous = await readFile(file, 'utf8')
    .then((text) => JSON.parse(text) as { results: Result[] })
    .catch(() => ({ results: [] }));
  const fresh = new Set(results.map((r) => `${r.scenario}@${r.concurrency}`));
  const merged = [
    ...previous.results.filter((r) => !fresh.has(`${r.scenario}@${r.concurrency}`)),
    ...results,
  ];
  const meta = {
    measuredAt: new Date().toISOString(),
    machine: `${os.cpus().length} cores`,
    durationSeconds,
    node: process.version,
  };
  await writeFile(file, `${JSON.stringify({ ...meta, results: merged }, null, 2)}\n`);
  const rows = merged.map(
    (r) =>
      `| ${r.scenario} | ${r.concurrency} | ${r.rps} | ${r.p50Ms} | ${r.p95Ms} | ${r.p99Ms} | ${r.ratioToCeiling ?? ''} | ${r.errors} |`,
  );
  const table = [
    `Measured ${meta.measuredAt} on ${meta.machine}, ${durationSeconds} s per run, ghz on one core.`,
    '',
    '| scenario | concurrency | req/s | p50 ms | p95 ms | p99 ms | ratio to ceiling | errors |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
  await writeFile(path.join(dir, 'results.md'), table);
  process.stdout.write(`${table}\n`);
}

const round = (value: number) => Math.round(value * 100) / 100;

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
