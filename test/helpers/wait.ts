/**
 * The one way a test waits: for a positive signal, never for a time. `waitFor`
 * asks `probe` again and again until `until` accepts its answer, and returns
 * that answer. How often it asks is a detail (it never decides a result); how
 * long it may take is bounded only generously, so a slow machine makes a test
 * slower, never red. When the bound passes, the failure says what was awaited
 * and the last answer.
 */

export interface WaitOptions<T> {
  /** What is awaited, for the failure message: "run rr_1 to finish". */
  readonly what: string;
  /** Whether an answer is the awaited one. Default: it is truthy. */
  readonly until?: (value: T) => boolean;
  /** Pause between two probes. Default 50 ms. */
  readonly everyMs?: number;
  /**
   * Gives up after this long. Default 90 s: far beyond any wait on a loaded
   * machine, and under ava's 120 s timeout, so the message names the wait.
   */
  readonly timeoutMs?: number;
}

export class WaitTimeoutError extends Error {
  constructor(
    readonly what: string,
    readonly last: unknown,
    timeoutMs: number,
  ) {
    super(`waited ${timeoutMs / 1000} s for ${what}; the last answer was ${describe(last)}`);
    this.name = 'WaitTimeoutError';
  }
}

export function isWaitTimeoutError(error: unknown): error is WaitTimeoutError {
  return error instanceof WaitTimeoutError;
}

const defaultTimeoutMs = 90_000;

/** Probes until `until` accepts the answer; the accepted answer. An error of `probe` ends the wait. */
export async function waitFor<T>(probe: () => T | Promise<T>, options: WaitOptions<T>): Promise<T> {
  const until = options.until ?? Boolean;
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  const giveUpAt = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (until(value)) return value;
    if (Date.now() > giveUpAt) throw new WaitTimeoutError(options.what, value, timeoutMs);
    await pause(options.everyMs ?? 50);
  }
}

/** Whether `promise` has settled by now (after the microtasks already queued). */
export async function hasSettled(promise: Promise<unknown>): Promise<boolean> {
  const pending = Symbol('pending');
  const first = await Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    new Promise<typeof pending>((resolve) => setImmediate(() => resolve(pending))),
  ]);
  return first !== pending;
}

/**
 * A pause, for what a scenario does over time (an outage that lasts, a client
 * that retries later), never to let the system under test catch up before an
 * assertion: for that, `waitFor` its signal.
 */
export const pause = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

function describe(value: unknown): string {
  try {
    const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
    return text === undefined ? String(value) : text.slice(0, 500);
  } catch {
    return String(value);
  }
}
