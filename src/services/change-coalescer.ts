/**
 * Usage-only changes of one key (a customer), coalesced by the pure rule of
 * src/domain/change-coalescing.ts: one timer per key at most, and a key is
 * forgotten after a quiet window, so memory follows the customers active
 * right now. Used twice per replica: before publishing on the invalidation
 * bus (the notifier) and before waking WatchEntitlements streams (the hub).
 */
import {
  type CoalescingState,
  type CoalescingStep,
  immediateChangeSent,
  usageChangeArrived,
  windowEnded,
} from '../domain/change-coalescing.js';

/** Time and timers, injected so tests drive them. */
export interface CoalescerClock {
  nowMs(): number;
  /** Calls `fire` after `ms`; the answer cancels it. */
  after(ms: number, fire: () => void): () => void;
}

export const systemClock: CoalescerClock = {
  nowMs: Date.now,
  after(ms, fire) {
    const timer = setTimeout(fire, Math.max(0, ms));
    // A pending trailing edge never keeps a process alive; shutdown flushes it.
    timer.unref();
    return () => clearTimeout(timer);
  },
};

interface Entry<T> {
  state: CoalescingState | null;
  /** The newest change of the key: what a trailing edge sends. */
  latest: T;
  cancel: (() => void) | undefined;
}

export class ChangeCoalescer<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(
    private readonly windowMs: number,
    /** Never rejects (a trailing edge has nobody to tell): the bus's publish only logs. */
    private readonly send: (change: T) => void | Promise<void>,
    private readonly clock: CoalescerClock = systemClock,
  ) {}

  /** A usage-only change: sent now (answers true once it is) or at its window's end (false). */
  async usageChanged(key: string, change: T): Promise<boolean> {
    const entry = this.entries.get(key) ?? { state: null, latest: change, cancel: undefined };
    entry.latest = change;
    this.entries.set(key, entry);
    const step = usageChangeArrived(entry.state, this.clock.nowMs(), this.windowMs);
    await this.apply(key, entry, step);
    return step.sendNow;
  }

  /** A change of the key was sent without delay; it covers whatever waited. */
  immediateChangeSent(key: string): void {
    const entry = this.entries.get(key);
    if (entry) entry.state = immediateChangeSent(entry.state, this.clock.nowMs());
  }

  /** Keys with a change waiting for its window's end. */
  get pendingCount(): number {
    let count = 0;
    for (const entry of this.entries.values()) if (entry.state?.pending) count += 1;
    return count;
  }

  /** Sends every waiting change now and forgets every key (shutdown). */
  async flush(): Promise<void> {
    const waiting = [...this.entries.values()].filter((entry) => entry.state?.pending);
    for (const entry of this.entries.values()) entry.cancel?.();
    this.entries.clear();
    await Promise.all(waiting.map((entry) => this.send(entry.latest)));
  }

  private async apply(key: string, entry: Entry<T>, step: CoalescingStep): Promise<void> {
    entry.state = step.state;
    if (step.state === null) {
      entry.cancel?.();
      this.entries.delete(key);
    } else if (step.wakeAtMs !== null) {
      entry.cancel?.();
      entry.cancel = this.clock.after(step.wakeAtMs - this.clock.nowMs(), () => {
        void this.wake(key);
      });
    }
    if (step.sendNow) await this.send(entry.latest);
  }

  private async wake(key: string): Promise<void> {
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.cancel = undefined;
    await this.apply(key, entry, windowEnded(entry.state, this.clock.nowMs(), this.windowMs));
  }
}
