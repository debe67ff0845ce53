/**
 * Figures kept up to date one subscription at a time must equal the figures
 * computed from scratch (domain/mrr.ts) after any sequence of changes, and
 * windows count by the same half-open rule.
 */
import test from 'ava';
import {
  computeProjectMetrics,
  type MetricsSubscription,
  type MetricsWindow,
  type MrrItem,
} from '../../src/domain/mrr.js';
import { contributionOf, ProjectFigures } from '../../src/domain/project-figures.js';
import { SortedTimes } from '../../src/domain/sorted-times.js';
import { Rng, seedFromEnv } from '../helpers/random.js';

const day = 24 * 3600 * 1000;
const origin = Date.parse('2026-06-01T00:00:00Z');
const statuses = [
  'active',
  'past_due',
  'trialing',
  'canceled',
  'unpaid',
  'incomplete',
  'incomplete_expired',
  'paused',
];

function randomItem(rng: Rng): MrrItem {
  return {
    unitAmount: rng.chance(0.1) ? null : rng.int(0, 100_000),
    currency: rng.pick(['usd', 'USD', 'eur', 'gbp']),
    interval: rng.chance(0.05) ? null : rng.pick(['day', 'week', 'month', 'year']),
    intervalCount: rng.int(1, 3),
    quantity: rng.int(0, 5),
  };
}

function randomSubscription(rng: Rng, id: string, customerId: string): MetricsSubscription {
  const status = rng.pick(statuses);
  const ended = rng.chance(0.5) ? new Date(origin + rng.int(-60, 60) * day) : null;
  return {
    id,
    customerId,
    status,
    items: Array.from({ length: rng.int(0, 3) }, () => randomItem(rng)),
    // Whole days, so that windows often start or end exactly on a time.
    created: new Date(origin + rng.int(-90, 30) * day),
    endedAt: status === 'canceled' && rng.chance(0.5) ? null : ended,
    canceledAt: rng.chance(0.5) ? new Date(origin + rng.int(-60, 60) * day) : null,
  };
}

function randomWindow(rng: Rng): MetricsWindow {
  const start = origin + rng.int(-100, 70) * day;
  return { start: new Date(start), end: new Date(start + rng.int(0, 60) * day) };
}

const seed = seedFromEnv('PROJECT_FIGURES_SEED');

test(`after random changes, kept figures equal figures from scratch (seed ${seed})`, (t) => {
  const rng = new Rng(seed);
  for (let round = 0; round < 40; round += 1) {
    // The truth: each subscription's current state, as a store would hold it.
    const truth = new Map<string, MetricsSubscription>();
    const customers = Array.from({ length: rng.int(1, 6) }, (_, i) => `cus_${i}`);
    const seeded = Array.from({ length: rng.int(0, 20) }, (_, i) =>
      randomSubscription(rng, `sub_${i}`, rng.pick(customers)),
    );
    for (const s of seeded) truth.set(s.id, s);
    const figures = ProjectFigures.of(seeded.map(contributionOf));
    for (let step = 0; step < 60; step += 1) {
      const move = rng.int(0, 2);
      if (move === 0) {
        // One subscription changes (or appears).
        const id = `sub_${rng.int(0, 25)}`;
        const customerId = truth.get(id)?.customerId ?? rng.pick(customers);
        const next = randomSubscription(rng, id, customerId);
        truth.set(id, next);
        figures.put(contributionOf(next));
      } else if (move === 1) {
        // One disappears (a prune of every version, as far as figures go).
        const id = `sub_${rng.int(0, 25)}`;
        truth.delete(id);
        figures.remove(id);
      } else {
        // A customer's subscriptions are re-read: some kept, changed, gone, new.
        const customerId = rng.pick(customers);
        for (const [id, s] of [...truth])
          if (s.customerId === customerId && rng.chance(0.3)) truth.delete(id);
        const changed = Array.from({ length: rng.int(0, 3) }, () =>
          randomSubscription(rng, `sub_${rng.int(0, 25)}`, customerId),
        ).filter((s) => {
          const owner = truth.get(s.id)?.customerId;
          return owner === undefined || owner === customerId;
        });
        for (const s of changed) truth.set(s.id, s);
        const current = [...truth.values()].filter((s) => s.customerId === customerId);
        figures.replaceCustomer(customerId, current.map(contributionOf));
      }
      const window = randomWindow(rng);
      t.deepEqual(
        figures.metrics(window),
        computeProjectMetrics([...truth.values()], window),
        `round ${round} step ${step}`,
      );
      t.is(figures.size, truth.size);
    }
  }
});

test('active customers stay exact: a customer with two subscriptions counts once, until both stop', (t) => {
  const sub = (id: string, status: string): MetricsSubscription => ({
    id,
    customerId: 'cus_1',
    status,
    items: [],
    created: new Date(origin),
    endedAt: null,
    canceledAt: null,
  });
  const window = { start: new Date(origin - day), end: new Date(origin + day) };
  const figures = ProjectFigures.of([sub('a', 'active'), sub('b', 'trialing')].map(contributionOf));
  t.is(figures.metrics(window).activeCustomers, 1);
  figures.put(contributionOf(sub('a', 'canceled')));
  t.is(figures.metrics(window).activeCustomers, 1);
  figures.put(contributionOf(sub('b', 'past_due')));
  t.is(figures.metrics(window).activeCustomers, 0);
  t.is(figures.metrics(window).activeSubscriptions, 0);
});

test('a currency leaves MRR only when no counted subscription names it', (t) => {
  const sub = (id: string, unitAmount: number | null): MetricsSubscription => ({
    id,
    customerId: `cus_${id}`,
    status: 'active',
    items: [{ unitAmount, currency: 'eur', interval: 'year', intervalCount: 1, quantity: 1 }],
    created: new Date(origin),
    endedAt: null,
    canceledAt: null,
  });
  const window = { start: new Date(origin), end: new Date(origin + day) };
  // 999 / 12 + 1 / 12 = 83.33... -> 83, exact after a removal (no rounding carried).
  const figures = ProjectFigures.of(
    [sub('a', 999), sub('b', 1), sub('c', null)].map(contributionOf),
  );
  t.deepEqual(figures.metrics(window).mrr, [{ currency: 'eur', amountMinor: 83n }]);
  figures.remove('b');
  t.deepEqual(figures.metrics(window).mrr, [{ currency: 'eur', amountMinor: 83n }]);
  figures.remove('a');
  // The unpriced item still names the currency, with nothing in it.
  t.deepEqual(figures.metrics(window).mrr, [{ currency: 'eur', amountMinor: 0n }]);
  t.is(figures.metrics(window).unpricedItems, 1);
  figures.remove('c');
  t.deepEqual(figures.metrics(window).mrr, []);
  t.is(figures.metrics(window).unpricedItems, 0);
});

test('window counts: start included, end excluded, repeated times each counted', (t) => {
  const times = SortedTimes.of([30, 10, 20, 20, 40]);
  t.is(times.countWithin(10, 40), 4);
  t.is(times.countWithin(20, 21), 2);
  t.is(times.countWithin(11, 20), 0);
  t.is(times.countWithin(0, 100), 5);
  t.is(times.countWithin(40, 40), 0);
  t.is(times.countWithin(50, 10), 0);
  times.remove(20);
  t.is(times.countWithin(20, 21), 1);
  times.remove(25);
  t.is(times.size, 4);
  times.add(5);
  times.add(45);
  t.is(times.countWithin(0, 50), 6);
  t.is(times.countWithin(41, 46), 1);
});

test('new and churned in a window, from kept figures', (t) => {
  const sub = (id: string, created: number, endedAt: number | null, status = 'canceled') => ({
    id,
    customerId: `cus_${id}`,
    status,
    items: [],
    created: new Date(origin + created * day),
    endedAt: endedAt === null ? null : new Date(origin + endedAt * day),
    canceledAt: null,
  });
  const figures = ProjectFigures.of(
    [sub('a', -10, -2), sub('b', -5, 0), sub('c', 0, null, 'active')].map(contributionOf),
  );
  const window = { start: new Date(origin - 5 * day), end: new Date(origin) };
  t.like(figures.metrics(window), { newSubscriptions: 1, churnedSubscriptions: 1 });
  // c becomes incomplete_expired with an end: never started, so never churned.
  figures.put(contributionOf(sub('c', 0, -1, 'incomplete_expired')));
  t.like(figures.metrics(window), { newSubscriptions: 1, churnedSubscriptions: 1 });
  figures.put(contributionOf(sub('b', -6, -3)));
  t.like(figures.metrics(window), { newSubscriptions: 0, churnedSubscriptions: 2 });
});
