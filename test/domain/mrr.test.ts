/**
 * Business figures, rule by rule, against figures computed by hand. Amounts
 * are minor units (cents).
 */
import test from 'ava';
import {
  addFractions,
  computeProjectMetrics,
  endOf,
  type MetricsSubscription,
  type MetricsWindow,
  type MrrItem,
  monthlyAmount,
  roundHalfUp,
} from '../../src/domain/mrr.js';

const day = 24 * 3600 * 1000;
const windowEnd = new Date('2026-06-15T12:00:00Z');
const at = (offsetDays: number) => new Date(windowEnd.getTime() + offsetDays * day);
const window: MetricsWindow = { start: at(-30), end: windowEnd };

function item(overrides: Partial<MrrItem> = {}): MrrItem {
  return {
    unitAmount: 2000,
    currency: 'usd',
    interval: 'month',
    intervalCount: 1,
    quantity: 1,
    ...overrides,
  };
}

let serial = 0;
function sub(
  overrides: Partial<MetricsSubscription> & { items?: readonly MrrItem[] } = {},
): MetricsSubscription {
  serial += 1;
  return {
    id: `sub_${serial}`,
    customerId: `cus_${serial}`,
    status: 'active',
    items: [item()],
    created: at(-100),
    endedAt: null,
    canceledAt: null,
    ...overrides,
  };
}

const mrrOf = (subscriptions: readonly MetricsSubscription[]) =>
  computeProjectMetrics(subscriptions, window).mrr.map((m) => [m.currency, m.amountMinor]);

// --- Monthly equivalent of one item ---

function monthly(overrides: Partial<MrrItem>): number | null {
  const amount = monthlyAmount(item(overrides));
  return amount === null ? null : Number(amount.numerator) / Number(amount.denominator);
}

test('monthly: the unit amount times the quantity', (t) => {
  t.is(monthly({ unitAmount: 2000, quantity: 3 }), 6000);
});

test('yearly: a twelfth', (t) => {
  t.deepEqual(monthlyAmount(item({ unitAmount: 50_000, interval: 'year' })), {
    numerator: 12_500n,
    denominator: 3n,
  });
});

test('weekly: 52 weeks over 12 months', (t) => {
  // 1000 * 52 / 12 = 4333.33...
  t.deepEqual(monthlyAmount(item({ unitAmount: 1000, interval: 'week' })), {
    numerator: 13_000n,
    denominator: 3n,
  });
});

test('daily: 365 days over 12 months', (t) => {
  // 100 * 365 / 12 = 3041.66...
  t.deepEqual(monthlyAmount(item({ unitAmount: 100, interval: 'day' })), {
    numerator: 9125n,
    denominator: 3n,
  });
});

test('interval_count divides: every 3 months, every 2 weeks, every 6 years', (t) => {
  t.is(monthly({ unitAmount: 9000, intervalCount: 3 }), 3000);
  // 500 * 4 seats * 52 / (12 * 2) = 4333.33...
  t.deepEqual(
    monthlyAmount(item({ unitAmount: 500, quantity: 4, interval: 'week', intervalCount: 2 })),
    {
      numerator: 13_000n,
      denominator: 3n,
    },
  );
  t.is(monthly({ unitAmount: 7200, interval: 'year', intervalCount: 6 }), 100);
});

test('quantity 0 is worth 0, and is priced', (t) => {
  t.deepEqual(monthlyAmount(item({ quantity: 0 })), { numerator: 0n, denominator: 1n });
});

test('no unit amount (metered, tiered), no or unknown interval, or nonsense: unpriced', (t) => {
  t.is(monthlyAmount(item({ unitAmount: null })), null);
  t.is(monthlyAmount(item({ interval: null })), null);
  t.is(monthlyAmount(item({ interval: 'fortnight' })), null);
  t.is(monthlyAmount(item({ intervalCount: 0 })), null);
  t.is(monthlyAmount(item({ unitAmount: 12.5 })), null);
  t.is(monthlyAmount(item({ quantity: -1 })), null);
});

// --- Exact sums, rounded once ---

test('rounding is half up, once, on the exact sum', (t) => {
  t.is(roundHalfUp({ numerator: 1n, denominator: 2n }), 1n);
  t.is(roundHalfUp({ numerator: 3n, denominator: 2n }), 2n);
  t.is(roundHalfUp({ numerator: 5n, denominator: 12n }), 0n);
  t.is(roundHalfUp({ numerator: 7n, denominator: 12n }), 1n);
  t.is(roundHalfUp({ numerator: 0n, denominator: 1n }), 0n);
  t.deepEqual(
    addFractions({ numerator: 1n, denominator: 3n }, { numerator: 1n, denominator: 6n }),
    {
      numerator: 1n,
      denominator: 2n,
    },
  );
});

test('three yearly 10.00 plans are 2.50 a month, not 3 * 0.83', (t) => {
  const yearly = () => sub({ items: [item({ unitAmount: 1000, interval: 'year' })] });
  t.deepEqual(mrrOf([yearly(), yearly(), yearly()]), [['usd', 250n]]);
});

test('a yearly 0.06 plan is half a cent a month: rounds up to 1', (t) => {
  t.deepEqual(mrrOf([sub({ items: [item({ unitAmount: 6, interval: 'year' })] })]), [['usd', 1n]]);
});

test('many small fractions add up without float drift', (t) => {
  // 1000 daily 1-cent plans: 1000 * 365 / 12 = 30416.66... -> 30417.
  const daily = Array.from({ length: 1000 }, () =>
    sub({ items: [item({ unitAmount: 1, interval: 'day' })] }),
  );
  t.deepEqual(mrrOf(daily), [['usd', 30_417n]]);
});

// --- A mixed catalog, every figure by hand ---

const mixed: readonly MetricsSubscription[] = [
  // USD
  // A: monthly 20.00 x 3 seats -> 6000
  sub({ id: 'A', customerId: 'cus_1', items: [item({ unitAmount: 2000, quantity: 3 })] }),
  // B: yearly 500.00 -> 4166.66...; same customer as A
  sub({
    id: 'B',
    customerId: 'cus_1',
    items: [item({ unitAmount: 50_000, interval: 'year' })],
    created: at(-30),
  }),
  // C: weekly 10.00 x 2, past_due -> 2000 * 52 / 12 = 8666.66... (counted in MRR, not a customer)
  sub({
    id: 'C',
    customerId: 'cus_2',
    status: 'past_due',
    items: [item({ unitAmount: 1000, quantity: 2, interval: 'week' })],
  }),
  // D: daily 1.00 -> 3041.66..., plus a metered item (unpriced)
  sub({
    id: 'D',
    customerId: 'cus_3',
    items: [item({ unitAmount: 100, interval: 'day' }), item({ unitAmount: null })],
    created: at(-1),
  }),
  // E: every 3 months 90.00 -> 3000
  sub({ id: 'E', customerId: 'cus_4', items: [item({ unitAmount: 9000, intervalCount: 3 })] }),
  // F: trialing monthly 50.00 -> 0, but an active customer
  sub({
    id: 'F',
    customerId: 'cus_5',
    status: 'trialing',
    items: [item({ unitAmount: 5000 })],
    created: at(-5),
  }),
  // G: canceled (ended in the window) -> 0, churned
  sub({
    id: 'G',
    customerId: 'cus_6',
    status: 'canceled',
    canceledAt: at(-10),
    endedAt: at(-10),
  }),
  // H: active, set to cancel at the period end: still 1500, not churned
  sub({
    id: 'H',
    customerId: 'cus_7',
    items: [item({ unitAmount: 1500 })],
    canceledAt: at(-2),
  }),
  // EUR
  // I: monthly 9.90 -> 990
  sub({ id: 'I', customerId: 'cus_8', items: [item({ unitAmount: 990, currency: 'eur' })] }),
  // J: yearly 99.99 -> 833.25
  sub({
    id: 'J',
    customerId: 'cus_8',
    items: [item({ unitAmount: 9999, currency: 'eur', interval: 'year' })],
  }),
  // K: every 2 weeks 5.00 x 4 -> 2000 * 52 / 24 = 4333.33...
  sub({
    id: 'K',
    customerId: 'cus_9',
    items: [
      item({ unitAmount: 500, currency: 'EUR', quantity: 4, interval: 'week', intervalCount: 2 }),
    ],
  }),
  // L: unpaid -> 0, not a customer
  sub({ id: 'L', customerId: 'cus_10', status: 'unpaid', items: [item({ currency: 'eur' })] }),
  // M: incomplete, created in the window -> 0, new
  sub({ id: 'M', customerId: 'cus_11', status: 'incomplete', created: at(-3) }),
];

test('mixed catalog: MRR per currency', (t) => {
  const metrics = computeProjectMetrics(mixed, window);
  // USD: 6000 + 50000/12 + 104000/12 + 36500/12 + 3000 + 1500 = 6000 + 15875 + 4500 = 26375
  // EUR: 990 + 9999/12 + 104000/24 = 147758/24 = 6156.583... -> 6157
  t.deepEqual(metrics.mrr, [
    { currency: 'eur', amountMinor: 6157n },
    { currency: 'usd', amountMinor: 26_375n },
  ]);
  t.is(metrics.unpricedItems, 1);
});

test('mixed catalog: counts by status, active subscriptions and customers', (t) => {
  const metrics = computeProjectMetrics(mixed, window);
  t.deepEqual(metrics.subscriptionsByStatus, [
    { status: 'active', count: 8 },
    { status: 'canceled', count: 1 },
    { status: 'incomplete', count: 1 },
    { status: 'past_due', count: 1 },
    { status: 'trialing', count: 1 },
    { status: 'unpaid', count: 1 },
  ]);
  t.is(metrics.activeSubscriptions, 8);
  // cus_1 (A, B), cus_3, cus_4, cus_5 (trialing), cus_7, cus_8 (I, J), cus_9.
  t.is(metrics.activeCustomers, 7);
});

test('mixed catalog: new and churned in the window', (t) => {
  const metrics = computeProjectMetrics(mixed, window);
  // B (at the window start), D, F, M.
  t.is(metrics.newSubscriptions, 4);
  // G only: H asked to cancel but has not ended.
  t.is(metrics.churnedSubscriptions, 1);
});

test('nothing at all: empty figures', (t) => {
  t.deepEqual(computeProjectMetrics([], window), {
    subscriptionsByStatus: [],
    activeSubscriptions: 0,
    activeCustomers: 0,
    mrr: [],
    unpricedItems: 0,
    newSubscriptions: 0,
    churnedSubscriptions: 0,
  });
});

// --- Statuses ---

test('MRR counts active and past_due only', (t) => {
  const statuses = [
    'active',
    'past_due',
    'trialing',
    'incomplete',
    'incomplete_expired',
    'unpaid',
    'paused',
    'canceled',
  ];
  const metrics = computeProjectMetrics(
    statuses.map((status) => sub({ status })),
    window,
  );
  t.deepEqual(metrics.mrr, [{ currency: 'usd', amountMinor: 4000n }]);
});

test('a currency with only a free or metered subscription still shows, at 0', (t) => {
  const metrics = computeProjectMetrics(
    [
      sub({
        items: [
          item({ unitAmount: 0, currency: 'gbp' }),
          item({ unitAmount: null, currency: 'jpy' }),
        ],
      }),
    ],
    window,
  );
  t.deepEqual(metrics.mrr, [
    { currency: 'gbp', amountMinor: 0n },
    { currency: 'jpy', amountMinor: 0n },
  ]);
  t.is(metrics.unpricedItems, 1);
});

test('a trialing subscription is not revenue; its metered items are not counted as unpriced', (t) => {
  const metrics = computeProjectMetrics(
    [sub({ status: 'trialing', items: [item({ unitAmount: null })] })],
    window,
  );
  t.deepEqual(metrics.mrr, []);
  t.is(metrics.unpricedItems, 0);
  t.is(metrics.activeCustomers, 1);
});

test('active customers: a customer counts once, past_due alone does not count', (t) => {
  const metrics = computeProjectMetrics(
    [
      sub({ customerId: 'cus_a' }),
      sub({ customerId: 'cus_a', status: 'trialing' }),
      sub({ customerId: 'cus_b', status: 'past_due' }),
      sub({ customerId: 'cus_c', status: 'canceled', endedAt: at(-50) }),
    ],
    window,
  );
  t.is(metrics.activeCustomers, 1);
});

// --- Window edges ---

test('new: the window start is in, the window end is out', (t) => {
  const created = (time: Date) => sub({ created: time });
  const metrics = computeProjectMetrics(
    [
      created(window.start),
      created(new Date(window.start.getTime() - 1)),
      created(new Date(window.end.getTime() - 1)),
      created(window.end),
    ],
    window,
  );
  t.is(metrics.newSubscriptions, 2);
});

test('churned: the window start is in, the window end is out', (t) => {
  const ended = (time: Date) => sub({ status: 'canceled', canceledAt: time, endedAt: time });
  const metrics = computeProjectMetrics(
    [
      ended(window.start),
      ended(new Date(window.start.getTime() - 1)),
      ended(new Date(window.end.getTime() - 1)),
      ended(window.end),
    ],
    window,
  );
  t.is(metrics.churnedSubscriptions, 2);
});

test('churn time: ended_at first, canceled_at of a canceled subscription without it', (t) => {
  // Canceled earlier (at period end requested before the window), ended inside.
  t.deepEqual(endOf(sub({ status: 'canceled', canceledAt: at(-40), endedAt: at(-5) })), at(-5));
  t.deepEqual(endOf(sub({ status: 'canceled', canceledAt: at(-5), endedAt: null })), at(-5));
  // Cancel at period end requested: canceled_at is set, but it runs on.
  t.is(endOf(sub({ status: 'active', canceledAt: at(-5) })), null);
  // Never started: not churn.
  t.is(endOf(sub({ status: 'incomplete_expired', endedAt: at(-5) })), null);
  const metrics = computeProjectMetrics(
    [
      sub({ status: 'canceled', canceledAt: at(-40), endedAt: at(-5) }),
      sub({ status: 'canceled', canceledAt: at(-5), endedAt: at(5) }),
      sub({ status: 'canceled', canceledAt: at(-5), endedAt: null }),
      sub({ status: 'active', canceledAt: at(-5) }),
      sub({ status: 'incomplete_expired', endedAt: at(-5) }),
    ],
    window,
  );
  t.is(metrics.churnedSubscriptions, 2);
});

test('a subscription created and ended in the window is both new and churned', (t) => {
  const metrics = computeProjectMetrics(
    [sub({ status: 'canceled', created: at(-20), canceledAt: at(-10), endedAt: at(-10) })],
    window,
  );
  t.is(metrics.newSubscriptions, 1);
  t.is(metrics.churnedSubscriptions, 1);
});
