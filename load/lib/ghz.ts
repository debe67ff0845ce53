/** Runs ghz (gRPC load) and turns its JSON report into a Result. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../scripts/lib/local-services.js';
import { nearestRank, sortedAscending } from './percentile.js';
import { type Result, round } from './results.js';

const run = promisify(execFile);

export interface GhzScenario {
  readonly name: string;
  readonly description: string;
  readonly call: string;
  /** ghz data; strings may use ghz templates such as {{.RequestNumber}}. */
  readonly data: Record<string, unknown>;
  readonly bearer?: string;
}

interface GhzReport {
  count: number;
  rps: number;
  /** Every call (ghz keeps up to a million): latency in nanoseconds, error '' when OK. */
  details: { latency: number; error: string }[] | null;
  statusCodeDistribution: Record<string, number>;
}

export interface GhzOptions {
  readonly ghz: string;
  readonly port: number;
  readonly concurrency: number;
  readonly seconds: number;
  /** ghz's own CPU share: it shares the machine with the server. */
  readonly cpus: number;
  /** Offered load in requests per second (ghz --rps); unset: as fast as it goes. */
  readonly rps?: number;
}

export async function ghzRun(scenario: GhzScenario, options: GhzOptions): Promise<Result> {
  const args = [
    '--insecure',
    '--protoset',
    path.join(REPO_ROOT, 'gen/descriptors.binpb'),
    '--call',
    scenario.call,
    '--data',
    JSON.stringify(scenario.data),
    '--concurrency',
    String(options.concurrency),
    '--connections',
    String(Math.min(options.concurrency, 4)),
    '--duration',
    `${options.seconds}s`,
    '--cpus',
    String(options.cpus),
    '--format',
    'json',
  ];
  if (options.rps !== undefined) args.push('--rps', String(options.rps));
  if (scenario.bearer)
    args.push('--metadata', JSON.stringify({ authorization: `Bearer ${scenario.bearer}` }));
  args.push(`127.0.0.1:${options.port}`);
  const { stdout } = await run(options.ghz, args, {
    maxBuffer: 256 * 1024 * 1024,
    timeout: (options.seconds + 60) * 1000,
  });
  return summarize(scenario, options.concurrency, JSON.parse(stdout) as GhzReport);
}

/** A run after an unmeasured warm-up of `warmupSeconds` (caches, JIT, connections); 0: none. */
export async function ghzMeasure(
  scenario: GhzScenario,
  options: GhzOptions,
  warmupSeconds: number,
): Promise<Result> {
  if (warmupSeconds > 0) await ghzRun(scenario, { ...options, seconds: warmupSeconds });
  return ghzRun(scenario, options);
}

function summarize(scenario: GhzScenario, concurrency: number, report: GhzReport): Result {
  // The OK calls, as ghz's own latencyDistribution takes them, through our one definition.
  const okMs = sortedAscending(
    (report.details ?? []).filter((call) => call.error === '').map((call) => call.latency / 1e6),
  );
  const percentile = (p: number) => nearestRank(okMs, p);
  const { OK: ok = 0, ...others } = report.statusCodeDistribution;
  return {
    scenario: scenario.name,
    description: scenario.description,
    concurrency,
    requests: report.count,
    // OK calls only: the calls cut off when the run ends (or refused) are not throughput.
    rps: report.count > 0 ? Math.round((report.rps * ok) / report.count) : 0,
    p50Ms: round(percentile(50)),
    p95Ms: round(percentile(95)),
    p99Ms: round(percentile(99)),
    errors: report.count - ok,
    statusCodes: others,
  };
}
