/**
 * Tries an idempotent write again while a dependency is down, for a bounded
 * time: short waits first, as a database restart takes seconds. Any other
 * failure, or the time running out, is thrown as it came.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { isDependencyDown } from '../failure-classification.js';

export interface OutageRetryOptions {
  /** No try starts after this long. */
  readonly budgetMs: number;
  /** The waits between tries; the last repeats. */
  readonly delaysMs?: readonly number[];
  readonly now?: () => number;
  readonly wait?: (ms: number) => Promise<unknown>;
}

const defaultDelaysMs = [50, 100, 200, 400, 800, 1600];

export async function retryThroughOutage<T>(
  write: () => Promise<T>,
  options: OutageRetryOptions,
): Promise<T> {
  const now = options.now ?? Date.now;
  const wait = options.wait ?? delay;
  const delays = options.delaysMs ?? defaultDelaysMs;
  const giveUpAt = now() + options.budgetMs;
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await write();
    } catch (err) {
      const pause = delays[Math.min(attempt, delays.length - 1)] ?? 0;
      if (!isDependencyDown(err) || now() + pause > giveUpAt) throw err;
      await wait(pause);
    }
  }
}
