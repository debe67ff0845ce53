/**
 * The rule that keeps a burst of usage from becoming a burst of messages:
 * per customer, at most one usage-only change is sent per window. The first
 * change after a quiet window goes at once (leading edge); changes inside
 * the window wait for its end and go as one (trailing edge), so the last
 * change is always sent. A change that is never delayed (a webhook, a
 * grant) carries every pending usage with it and starts a new window.
 *
 * Pure: the caller owns the clock and the timers, and wakes the rule up at
 * the `wakeAtMs` it answers.
 */

export interface CoalescingState {
  /** When the last change was sent. */
  readonly lastSentMs: number;
  /** A usage change waits to be sent at the window's end. */
  readonly pending: boolean;
}

export interface CoalescingStep {
  /** null: nothing to remember, the key may be forgotten. */
  readonly state: CoalescingState | null;
  readonly sendNow: boolean;
  /** When to call `windowEnded` next; null: keep the wake-up already planned (or none). */
  readonly wakeAtMs: number | null;
}

/** A usage-only change arrived. */
export function usageChangeArrived(
  state: CoalescingState | null,
  nowMs: number,
  windowMs: number,
): CoalescingStep {
  if (state === null || nowMs >= state.lastSentMs + windowMs) {
    return {
      state: { lastSentMs: nowMs, pending: false },
      sendNow: true,
      wakeAtMs: nowMs + windowMs,
    };
  }
  // Inside the window: the wake-up planned at the window's end sends it.
  return { state: { lastSentMs: state.lastSentMs, pending: true }, sendNow: false, wakeAtMs: null };
}

/** The planned wake-up: sends what waits, or forgets the key after a quiet window. */
export function windowEnded(
  state: CoalescingState | null,
  nowMs: number,
  windowMs: number,
): CoalescingStep {
  if (state === null) return { state: null, sendNow: false, wakeAtMs: null };
  const windowEndMs = state.lastSentMs + windowMs;
  // Timers may fire early, and an immediate change may have moved the window.
  if (nowMs < windowEndMs) return { state, sendNow: false, wakeAtMs: windowEndMs };
  if (!state.pending) return { state: null, sendNow: false, wakeAtMs: null };
  return {
    state: { lastSentMs: nowMs, pending: false },
    sendNow: true,
    wakeAtMs: nowMs + windowMs,
  };
}

/**
 * A change that is never delayed was sent: it shows every usage so far, so
 * nothing waits any more, and the next usage change waits for a new window.
 * A key with no state stays without: a webhook does not hold back the usage
 * that follows it.
 */
export function immediateChangeSent(
  state: CoalescingState | null,
  nowMs: number,
): CoalescingState | null {
  return state === null ? null : { lastSentMs: nowMs, pending: false };
}
