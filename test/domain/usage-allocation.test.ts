/**
 * The usage chain's rules (usage-allocation.ts, usage-plans.ts), with a
 * fixed clock: the consumption order (allowance, then credits by earliest
 * expiry, ties by created_at then id, then credits that never expire, then
 * overage), the balance with credits and holds, holds that expire by
 * themselves, refusals under block, and what an append keeps.
 */
import test from 'ava';
import type { CreditLotFacts } from '../../src/domain/credits.js';
import {
  allocate,
  type ChainState,
  type ChainTerms,
  chainStanding,
  creditsLeft,
  emptyChainState,
  openHolds,
  periodUsage,
  pruned,
  usableLots,
  usageLookbackMs,
  withUsage,
} from '../../src/domain/usage-allocation.js';
import {
  type ChainPlan,
  planCommit,
  planHold,
  planRelease,
  planUsage,
} from '../../src/domain/usage-plans.js';
import { at, creditLot, now } from './engine-fixtures.js';

const periodEnd = at(10);
const lot = creditLot;

const terms = (allowance: number | null, lots: CreditLotFacts[] = []): ChainTerms => ({
  allowance,
  lots,
  now,
});

/** The state after each usage in turn, applied by planUsage without refusal. */
function used(t: ChainTerms, ...amounts: number[]): ChainState {
  return amounts.reduce(
    (state, amount) => written(planUsage(state, t, { periodEnd, amount, refuseOverage: false })),
    emptyChainState,
  );
}

function written(plan: ChainPlan): ChainState {
  if (plan.kind !== 'write') throw new Error(`refused: ${plan.reason}`);
  return plan.state;
}

const hold = (id: string, amount: number, expiresInDays = 1) => ({
  id,
  amount,
  expiresAt: at(expiresInDays),
  periodEnd,
  createdAt: now,
});

// Consumption order.

test('the period allowance is used first; credits stay untouched while it lasts', (t) => {
  const allocation = allocate(emptyChainState, terms(100, [lot('a', 50)]), periodEnd, 60);
  t.deepEqual(allocation, { fromAllowance: 60, credits: [], overage: 0 });
});

test('past the allowance, credits by earliest expiry, then credits that never expire, then overage', (t) => {
  const lots = [
    lot('never', 100),
    lot('late', 10, { expiresAt: at(20) }),
    lot('soon', 10, { expiresAt: at(2) }),
  ];
  const allocation = allocate(used(terms(100, lots), 90), terms(100, lots), periodEnd, 150);
  t.deepEqual(allocation, {
    fromAllowance: 10,
    credits: [
      { id: 'soon', used: 10 },
      { id: 'late', used: 10 },
      { id: 'never', used: 100 },
    ],
    overage: 20,
  });
});

test('lots expiring at the same time: the one created first, then by id', (t) => {
  const expiresAt = at(3);
  const lots = [
    lot('b', 5, { expiresAt, createdAt: at(-1) }),
    lot('c', 5, { expiresAt, createdAt: at(-2) }),
    lot('a', 5, { expiresAt, createdAt: at(-1) }),
  ];
  t.deepEqual(
    usableLots(lots, now).map((l) => l.id),
    ['c', 'a', 'b'],
  );
  const allocation = allocate(emptyChainState, terms(0, lots), periodEnd, 7);
  t.deepEqual(allocation.credits, [
    { id: 'c', used: 5 },
    { id: 'a', used: 2 },
  ]);
});

test('never-expiring lots among themselves: created first, then by id', (t) => {
  const lots = [lot('z', 3, { createdAt: at(-9) }), lot('y', 3), lot('x', 3)];
  t.deepEqual(
    usableLots(lots, now).map((l) => l.id),
    ['z', 'x', 'y'],
  );
});

test('expired, ended and not yet created lots are not used', (t) => {
  const lots = [
    lot('expired', 10, { expiresAt: now }),
    lot('revoked', 10, { endedAt: at(-1) }),
    lot('future', 10, { createdAt: at(1) }),
    lot('ok', 10, { endedAt: at(1) }),
  ];
  t.deepEqual(
    usableLots(lots, now).map((l) => l.id),
    ['ok'],
  );
  t.deepEqual(allocate(emptyChainState, terms(0, lots), periodEnd, 15), {
    fromAllowance: 0,
    credits: [{ id: 'ok', used: 10 }],
    overage: 5,
  });
});

test('a lot partly used gives only what is left, across usages', (t) => {
  const lots = [lot('soon', 10, { expiresAt: at(2) }), lot('never', 10)];
  const state = used(terms(5, lots), 5, 7);
  t.deepEqual(state.creditsUsed, [{ id: 'soon', used: 7 }]);
  t.deepEqual(allocate(state, terms(5, lots), periodEnd, 6).credits, [
    { id: 'soon', used: 3 },
    { id: 'never', used: 3 },
  ]);
  t.deepEqual(used(terms(5, lots), 5, 7, 6).creditsUsed, [
    { id: 'soon', used: 10 },
    { id: 'never', used: 3 },
  ]);
});

test('an unlimited allowance never uses credits', (t) => {
  const lots = [lot('a', 10)];
  t.deepEqual(allocate(emptyChainState, terms(null, lots), periodEnd, 1_000), {
    fromAllowance: 1_000,
    credits: [],
    overage: 0,
  });
  const standing = chainStanding(used(terms(null, lots), 1_000), terms(null, lots), periodEnd);
  t.is(standing.balance, null);
  t.is(standing.credits, 10);
});

test('credits span periods; the allowance starts again in a new period', (t) => {
  const lots = [lot('a', 20)];
  const state = used(terms(10, lots), 15);
  const next = at(40);
  t.deepEqual(chainStanding(state, terms(10, lots), next), {
    usage: 0,
    balance: 25,
    reserved: 0,
    credits: 15,
  });
  t.deepEqual(allocate(state, terms(10, lots), next, 12), {
    fromAllowance: 10,
    credits: [{ id: 'a', used: 2 }],
    overage: 0,
  });
});

test('a raised allowance (upgrade) is usable at once; overage already recorded stays usage', (t) => {
  const state = used(terms(10), 14);
  t.deepEqual(chainStanding(state, terms(10), periodEnd), {
    usage: 14,
    balance: 0,
    reserved: 0,
    credits: 0,
  });
  t.is(chainStanding(state, terms(30), periodEnd).balance, 20);
  t.is(chainStanding(state, terms(5), periodEnd).balance, 0);
});

// Balance, holds, refusals.

test('balance is allowance left + credits left − open holds, never below 0', (t) => {
  const lots = [lot('a', 20)];
  const state = written(
    planHold(used(terms(100, lots), 90), terms(100, lots), hold('r1', 25), true),
  );
  t.deepEqual(chainStanding(state, terms(100, lots), periodEnd), {
    usage: 90,
    balance: 5,
    reserved: 25,
    credits: 20,
  });
  t.is(creditsLeft(state, terms(100, lots)), 20);
  const over = written(
    planUsage(state, terms(100, lots), { periodEnd, amount: 50, refuseOverage: false }),
  );
  t.is(chainStanding(over, terms(100, lots), periodEnd).balance, 0);
});

test('under block a usage or hold the balance does not cover is refused with the balance', (t) => {
  const base = written(planHold(used(terms(100), 60), terms(100), hold('r1', 30), true));
  t.deepEqual(planUsage(base, terms(100), { periodEnd, amount: 11, refuseOverage: true }), {
    kind: 'refuse',
    reason: 'balance',
    balance: 10,
  });
  t.like(planHold(base, terms(100), hold('r2', 11), true), { kind: 'refuse', balance: 10 });
  t.like(planUsage(base, terms(100), { periodEnd, amount: 10, refuseOverage: true }), {
    kind: 'write',
  });
  t.like(planHold(base, terms(100), hold('r2', 10), true), { kind: 'write' });
});

test('under allow (or a track without enforce) nothing is refused; unlimited never', (t) => {
  const full = used(terms(10), 10);
  t.like(planUsage(full, terms(10), { periodEnd, amount: 5, refuseOverage: false }), {
    kind: 'write',
    allocation: { fromAllowance: 0, credits: [], overage: 5 },
  });
  t.like(planHold(full, terms(10), hold('r', 5), false), { kind: 'write' });
  t.like(planHold(full, terms(null), hold('r', 1e9), true), { kind: 'write' });
});

test('credits cover what the allowance does not under block', (t) => {
  const lots = [lot('a', 10)];
  const full = used(terms(10, lots), 10);
  t.like(planUsage(full, terms(10, lots), { periodEnd, amount: 10, refuseOverage: true }), {
    kind: 'write',
  });
  t.like(planUsage(full, terms(10, lots), { periodEnd, amount: 11, refuseOverage: true }), {
    kind: 'refuse',
    balance: 10,
  });
});

test('a hold past its expiry is released for every reader, and dropped by the next append', (t) => {
  const state = written(planHold(emptyChainState, terms(100), hold('r1', 40, 1), true));
  const later: ChainTerms = { ...terms(100), now: at(1) };
  t.is(chainStanding(state, terms(100), periodEnd).balance, 60);
  t.deepEqual(chainStanding(state, later, periodEnd), {
    usage: 0,
    balance: 100,
    reserved: 0,
    credits: 0,
  });
  t.deepEqual(openHolds(state, at(1)), []);
  const next = written(planUsage(state, later, { periodEnd, amount: 1, refuseOverage: true }));
  t.deepEqual(next.holds, []);
  t.like(planCommit(state, later, 'r1', 10, true), { kind: 'refuse', reason: 'not_held' });
  t.like(planRelease(state, later, 'r1'), { kind: 'refuse', reason: 'not_held' });
});

test('a commit records the final amount in the hold period, allowance then credits, never refused', (t) => {
  const lots = [lot('a', 5)];
  const base = used(terms(10, lots), 8);
  const held = written(planHold(base, terms(10, lots), hold('r1', 7), true));
  // Usage without enforce spent what the hold counted on: the commit still goes through.
  const spent = written(
    planUsage(held, terms(10, lots), { periodEnd, amount: 4, refuseOverage: false }),
  );
  const plan = planCommit(spent, terms(10, lots), 'r1', 6, true);
  t.like(plan, {
    kind: 'write',
    amount: 6,
    periodEnd,
    allocation: { fromAllowance: 0, credits: [{ id: 'a', used: 3 }], overage: 3 },
  });
  const after = written(plan);
  t.deepEqual(after.holds, []);
  t.deepEqual(chainStanding(after, terms(10, lots), periodEnd), {
    usage: 18,
    balance: 0,
    reserved: 0,
    credits: 0,
  });
});

test('a commit of 0 ends the hold and records no usage; more than held is refused under block', (t) => {
  const held = written(planHold(emptyChainState, terms(10), hold('r1', 4), true));
  t.deepEqual(planCommit(held, terms(10), 'r1', 5, true), {
    kind: 'refuse',
    reason: 'over_held',
    balance: 4,
  });
  const zero = written(planCommit(held, terms(10), 'r1', 0, true));
  t.deepEqual(chainStanding(zero, terms(10), periodEnd), {
    usage: 0,
    balance: 10,
    reserved: 0,
    credits: 0,
  });
  t.like(planCommit(zero, terms(10), 'r1', 0, true), { kind: 'refuse', reason: 'not_held' });
});

test('under allow a commit above the amount held records it all: the rest draws the allowance, then overage', (t) => {
  const full = used(terms(10), 8);
  const held = written(planHold(full, terms(10), hold('r1', 2), false));
  const plan = written(planCommit(held, terms(10), 'r1', 5, false));
  t.deepEqual(chainStanding(plan, terms(10), periodEnd), {
    usage: 13,
    balance: 0,
    reserved: 0,
    credits: 0,
  });
  t.is(periodUsage(plan, periodEnd).fromAllowance, 10);
  t.like(planCommit(plan, terms(10), 'r1', 1, false), { kind: 'refuse', reason: 'not_held' });
});

test('a release gives the held amount back; releasing an unknown or ended hold is refused', (t) => {
  const held = written(planHold(emptyChainState, terms(10), hold('r1', 4), true));
  const released = written(planRelease(held, terms(10), 'r1'));
  t.is(chainStanding(released, terms(10), periodEnd).balance, 10);
  t.like(planRelease(released, terms(10), 'r1'), { kind: 'refuse', reason: 'not_held' });
  t.like(planRelease(held, terms(10), 'other'), { kind: 'refuse', reason: 'not_held' });
});

test('a hold of a previous period commits there', (t) => {
  const previous = at(-1);
  const held = written(
    planHold(emptyChainState, terms(10), { ...hold('r1', 4), periodEnd: previous }, true),
  );
  const after = written(planCommit(held, terms(10), 'r1', 4, true));
  t.is(chainStanding(after, terms(10), previous).usage, 4);
  t.is(chainStanding(after, terms(10), periodEnd).usage, 0);
});

// What an append keeps.

test('an append keeps periods ending within 35 days and open holds; credit uses stay', (t) => {
  const old = new Date(now.getTime() - usageLookbackMs);
  const recent = new Date(now.getTime() - usageLookbackMs + 1);
  let state: ChainState = emptyChainState;
  for (const end of [old, recent, periodEnd]) {
    state = withUsage(state, end, 1, {
      fromAllowance: 1,
      credits: [{ id: 'a', used: 1 }],
      overage: 0,
    });
  }
  state = { ...state, holds: [hold('open', 1), { ...hold('gone', 1), expiresAt: now }] };
  const kept = pruned(state, now);
  t.deepEqual(
    kept.periods.map((p) => p.end),
    [recent, periodEnd],
  );
  t.deepEqual(
    kept.holds.map((h) => h.id),
    ['open'],
  );
  t.deepEqual(kept.creditsUsed, [{ id: 'a', used: 3 }]);
});

test('periods stay sorted by end and each one counts only its own usage', (t) => {
  const a = at(-20);
  let state = withUsage(emptyChainState, periodEnd, 3, {
    fromAllowance: 3,
    credits: [],
    overage: 0,
  });
  state = withUsage(state, a, 2, { fromAllowance: 1, credits: [], overage: 1 });
  state = withUsage(state, periodEnd, 4, { fromAllowance: 4, credits: [], overage: 0 });
  t.deepEqual(state.periods, [
    { end: a, usage: 2, fromAllowance: 1 },
    { end: periodEnd, usage: 7, fromAllowance: 7 },
  ]);
});

test('no overspend, as a property: any sequence of enforced usages, holds, commits and releases stays within allowance + credits', (t) => {
  let seed = 7;
  const next = (n: number) => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed % n;
  };
  for (let round = 0; round < 200; round++) {
    const lots = [lot('a', next(20), { expiresAt: at(5) }), lot('b', next(20))];
    const t0 = terms(next(50), lots);
    const budget = (t0.allowance ?? 0) + lots.reduce((s, l) => s + l.amount, 0);
    let state: ChainState = emptyChainState;
    let accepted = 0;
    const held = new Map<string, number>();
    for (let step = 0; step < 30; step++) {
      const choice = next(4);
      const id = `r${step}`;
      let plan: ChainPlan;
      if (choice === 0) {
        plan = planUsage(state, t0, { periodEnd, amount: 1 + next(10), refuseOverage: true });
      } else if (choice === 1) {
        plan = planHold(state, t0, hold(id, 1 + next(10)), true);
        if (plan.kind === 'write') held.set(id, plan.state.holds.at(-1)?.amount ?? 0);
      } else {
        const [first] = held.keys();
        if (first === undefined) continue;
        const amount = held.get(first) ?? 0;
        held.delete(first);
        plan =
          choice === 2
            ? planCommit(state, t0, first, next(amount + 2), true)
            : planRelease(state, t0, first);
      }
      if (plan.kind === 'write') {
        accepted += plan.amount;
        state = plan.state;
      }
    }
    const reserved = [...held.values()].reduce((s, a) => s + a, 0);
    t.true(accepted + reserved <= budget, `round ${round}: ${accepted} + ${reserved} > ${budget}`);
    t.is(chainStanding(state, t0, periodEnd).usage, accepted);
  }
});
