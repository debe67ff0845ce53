/**
 * A closed-loop load from this process: `concurrency` callers, each making
 * its next call as soon as the last one answered, for `seconds`. What ghz
 * does for a single gRPC call, for work ghz cannot drive (signed webhooks,
 * database inserts, calls that chain on the previous answer).
 */
import { percentiles, type Result } from './results.js';

export interface ClosedLoopOptions {
  readonly concurrency: number;
  readonly seconds: number;
  /**
   * The n-th call (n counts across callers): resolves with nothing when it
   * succeeded, or with the name of the error to count (a status code); a
   * rejection stops every caller and the run rejects with it (the scenario
   * cannot run at all).
   */
  readonly call: (n: number) => Promise<string | undefined>;
}

export interface ClosedLoopFigures {
  readonly concurrency: number;
  /** Every successful call's duration in milliseconds (failed ones are only counted, as ghz does). */
  readonly durationsMs: readonly number[];
  /** Failed calls by error name. */
  readonly errors: Readonly<Record<string, number>>;
  readonly elapsedSeconds: number;
}

export async function closedLoop(options: ClosedLoopOptions): Promise<ClosedLoopFigures> {
  const durationsMs: number[] = [];
  const errors: Record<string, number> = {};
  let next = 0;
  let stopped = false;
  const deadline = Date.now() + options.seconds * 1000;
  const caller = async () => {
    while (!stopped && Date.now() < deadline) {
      const started = performance.now();
      const error = await options.call(next++).catch((err: unknown) => {
        stopped = true;
        throw err;
      });
      if (error === undefined) durationsMs.push(performance.now() - started);
      else errors[error] = (errors[error] ?? 0) + 1;
    }
  };
  const started = performance.now();
  const callers = await Promise.allSettled(Array.from({ length: options.concurrency }, caller));
  const failed = callers.find((c) => c.status === 'rejected');
  if (failed) throw failed.reason;
  const elapsedSeconds = (performance.now() - started) / 1000;
  return { concurrency: options.concurrency, durationsMs, errors, elapsedSeconds };
}

/** The figures as a results row. */
export function closedLoopResult(
  scenario: { readonly name: string; readonly description: string },
  figures: ClosedLoopFigures,
): Result {
  const { p50, p95, p99 } = percentiles(figures.durationsMs);
  const errors = Object.values(figures.errors).reduce((sum, count) => sum + count, 0);
  return {
    scenario: scenario.name,
    description: scenario.description,
    concurrency: figures.concurrency,
    requests: figures.durationsMs.length + errors,
    rps: Math.round(figures.durationsMs.length / figures.elapsedSeconds),
    p50Ms: p50,
    p95Ms: p95,
    p99Ms: p99,
    errors,
    statusCodes: figures.errors,
  };
}
