/** A CoalescerClock the test moves by hand: timers fire only when `advance` passes them. */
import type { CoalescerClock } from '../../src/services/change-coalescer.js';

export class FakeCoalescerClock implements CoalescerClock {
  private now = 1_000_000;
  private readonly timers = new Set<{ at: number; fire: () => void }>();

  nowMs(): number {
    return this.now;
  }

  after(ms: number, fire: () => void): () => void {
    const timer = { at: this.now + ms, fire };
    this.timers.add(timer);
    return () => this.timers.delete(timer);
  }

  get plannedTimers(): number {
    return this.timers.size;
  }

  /** Moves time forward, firing every timer due on the way, in time order. */
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const next = [...this.timers].sort((a, b) => a.at - b.at)[0];
      if (next === undefined || next.at > until) break;
      this.timers.delete(next);
      this.now = Math.max(this.now, next.at);
      next.fire();
    }
    this.now = until;
  }
}
