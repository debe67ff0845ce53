/**
 * The coalescing rule for usage-only changes: leading edge at once, at most
 * one send per window, the trailing edge always sent, immediate changes
 * carry what waits; and, over random bursts, sends are bounded by the
 * burst's duration and the last send comes after the last change.
 */
import test from 'ava';
import {
  type CoalescingState,
  immediateChangeSent,
  usageChangeArrived,
  windowEnded,
} from '../../src/domain/change-coalescing.js';
import { Rng, seedFromEnv } from '../helpers/random.js';

const windowMs = 250;

test('the first change of a quiet key is sent at once and plans a wake-up at the window end', (t) => {
  const step = usageChangeArrived(null, 1000, windowMs);
  t.deepEqual(step, {
    state: { lastSentMs: 1000, pending: false },
    sendNow: true,
    wakeAtMs: 1250,
  });
});

test('changes inside the window wait, and keep the wake-up already planned', (t) => {
  const sent: CoalescingState = { lastSentMs: 1000, pending: false };
  const second = usageChangeArrived(sent, 1001, windowMs);
  t.deepEqual(second, {
    state: { lastSentMs: 1000, pending: true },
    sendNow: false,
    wakeAtMs: null,
  });
  const third = usageChangeArrived(second.state, 1249, windowMs);
  t.false(third.sendNow);
  t.deepEqual(third.state, { lastSentMs: 1000, pending: true });
});

test('the window end sends what waits and opens the next window', (t) => {
  const step = windowEnded({ lastSentMs: 1000, pending: true }, 1250, windowMs);
  t.deepEqual(step, {
    state: { lastSentMs: 1250, pending: false },
    sendNow: true,
    wakeAtMs: 1500,
  });
});

test('a quiet window end forgets the key', (t) => {
  t.deepEqual(windowEnded({ lastSentMs: 1000, pending: false }, 1250, windowMs), {
    state: null,
    sendNow: false,
    wakeAtMs: null,
  });
  t.deepEqual(windowEnded(null, 1250, windowMs), { state: null, sendNow: false, wakeAtMs: null });
});

test('an early wake-up sends nothing and asks to be woken at the window end', (t) => {
  const state = { lastSentMs: 1000, pending: true };
  t.deepEqual(windowEnded(state, 1249, windowMs), { state, sendNow: false, wakeAtMs: 1250 });
});

test('a change after the window is sent at once even before the wake-up ran', (t) => {
  const step = usageChangeArrived({ lastSentMs: 1000, pending: false }, 1300, windowMs);
  t.true(step.sendNow);
  t.is(step.wakeAtMs, 1550);
});

test('an immediate change carries what waits and starts a new window', (t) => {
  const after = immediateChangeSent({ lastSentMs: 1000, pending: true }, 1100);
  t.deepEqual(after, { lastSentMs: 1100, pending: false });
  // The old wake-up finds the window moved: nothing to send yet.
  t.deepEqual(windowEnded(after, 1250, windowMs), {
    state: after,
    sendNow: false,
    wakeAtMs: 1350,
  });
  t.false(usageChangeArrived(after, 1200, windowMs).sendNow);
});

test('an immediate change of a quiet key leaves it quiet: the next usage goes at once', (t) => {
  t.is(immediateChangeSent(null, 1100), null);
  t.true(usageChangeArrived(null, 1101, windowMs).sendNow);
});

test('a window of 0 sends every change', (t) => {
  let state: CoalescingState | null = null;
  for (const nowMs of [5, 5, 6, 6, 7]) {
    const step = usageChangeArrived(state, nowMs, 0);
    t.true(step.sendNow);
    state = step.state;
  }
});

/** Drives the rule as a caller does: arrivals in time order, wake-ups when planned. */
function simulate(arrivals: readonly number[], window: number): number[] {
  const sends: number[] = [];
  let state: CoalescingState | null = null;
  let wakeAt: number | null = null;
  const wakeUntil = (limit: number) => {
    while (wakeAt !== null && wakeAt <= limit) {
      const at: number = wakeAt;
      const step = windowEnded(state, at, window);
      state = step.state;
      wakeAt = step.state === null ? null : step.wakeAtMs;
      if (step.sendNow) sends.push(at);
    }
  };
  for (const at of arrivals) {
    wakeUntil(at);
    const step = usageChangeArrived(state, at, window);
    state = step.state;
    if (step.wakeAtMs !== null) wakeAt = step.wakeAtMs;
    if (step.sendNow) sends.push(at);
  }
  wakeUntil(Number.POSITIVE_INFINITY);
  return sends;
}

const seed = seedFromEnv('COALESCING_SEED');

test(`random bursts: sends <= duration / window + 2, one per window, the last after the last change (seed ${seed})`, (t) => {
  const rng = new Rng(seed);
  for (let run = 0; run < 300; run += 1) {
    const window = rng.int(1, 500);
    const count = rng.int(1, 400);
    let at = rng.int(0, 10_000);
    const arrivals: number[] = [];
    for (let i = 0; i < count; i += 1) {
      at += rng.chance(0.1) ? rng.int(0, 3 * window) : rng.int(0, 5);
      arrivals.push(at);
    }
    const sends = simulate(arrivals, window);
    const first = arrivals[0] ?? 0;
    const last = arrivals[arrivals.length - 1] ?? 0;
    t.true(sends.length <= (last - first) / window + 2, `run ${run}: ${sends.length} sends`);
    t.is(sends[0], first, `run ${run}: the leading edge`);
    const lastSend = sends[sends.length - 1] ?? -1;
    t.true(lastSend >= last && lastSend <= last + window, `run ${run}: the trailing edge`);
    for (let i = 1; i < sends.length; i += 1) {
      t.true((sends[i] ?? 0) - (sends[i - 1] ?? 0) >= window, `run ${run}: one per window`);
    }
  }
});
