/**
 * The sandbox's test clock: real time plus an offset that only grows
 * (`advance`). Every object timestamp and event `created` time comes from
 * it; webhook signatures carry real time (a receiver checks them against
 * its own clock). Stripe's test clocks stamp events in real time; here the
 * events follow the clock so that a service that follows it too
 * (start:local, `onAdvance`) sees past_due begin when the clock says.
 */
export class SandboxClock {
  private readonly advanceListeners: Array<() => void> = [];

  constructor(
    private offsetSeconds = 0,
    private readonly realNow: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  now(): number {
    return this.realNow() + this.offsetSeconds;
  }

  get offset(): number {
    return this.offsetSeconds;
  }

  /** Moves time forward; returns the new time. */
  advance(seconds: number): number {
    if (!Number.isInteger(seconds) || seconds < 0) {
      throw new RangeError(`the clock only moves forward by whole seconds (got ${seconds})`);
    }
    this.offsetSeconds += seconds;
    for (const listener of this.advanceListeners) listener();
    return this.now();
  }

  /** Calls `listener` each time the clock moved forward (before the renewals it causes). */
  onAdvance(listener: () => void): void {
    this.advanceListeners.push(listener);
  }
}

const UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** `31d`, `12h`, `90m`, `45s`, `2w` (or a plain number of seconds) in seconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)([smhdw]?)$/.exec(text.trim());
  const unit = UNITS[match?.[2] || 's'];
  if (match === null || unit === undefined) {
    throw new RangeError(`not a duration: '${text}' (use e.g. 31d, 12h, 90m, 45s)`);
  }
  return Number(match[1]) * unit;
}
