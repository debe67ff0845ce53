// needs: mongodb
/**
 * The consumption order through UsageService against the real ledger
 * (FerretDB), with a fake of its lookup port whose inputs carry credit
 * lots: the period allowance first, then credits by earliest expiry, then
 * credits that never expire; ended and expired lots give nothing;
 * reservations commit through the same order. (Once credit lots can be
 * granted over the API, the same runs end to end.)
 */
import test from 'ava';
import { type Db, MongoClient } from 'mongodb';
import type { Catalog } from '../../src/domain/catalog.js';
import type { CreditLotFacts } from '../../src/domain/credits.js';
import {
  computeEntitlements,
  type EntitlementInputs,
  type EntitlementSet,
} from '../../src/domain/entitlements.js';
import { isFailedPreconditionError } from '../../src/domain/errors.js';
import { withMeteredStandings } from '../../src/services/metered-standings.js';
import { ReservationService } from '../../src/services/reservation-service.js';
import { type RecordedUsage, UsageService } from '../../src/services/usage-service.js';
import { type UsageEntryDoc, UsageLedgerStore } from '../../src/store/usage-ledger-store.js';
import { creditLot, subscription } from '../domain/engine-fixtures.js';
import { testMongoUrl, uniqueDbName } from '../helpers/services.js';

const day = 24 * 3600 * 1000;
const start = Date.now();
const at = (days: number) => new Date(start + days * day);

const catalog: Catalog = new Map([
  [
    'price_metered',
    [
      {
        feature: 'api_requests',
        limit: null,
        limitPerUnit: false,
        kind: 'metered',
        metered: {
          allowance: 10,
          allowancePerUnit: false,
          reset: 'billing_period',
          overage: 'block',
          stripeMeterEventName: null,
        },
      },
    ],
  ],
]);

const lot = (id: string, amount: number, overrides: Partial<CreditLotFacts> = {}) =>
  creditLot(id, amount, { feature: 'api_requests', createdAt: at(-3), ...overrides });

const lots: CreditLotFacts[] = [
  lot('crd_never', 100, { createdAt: at(-4) }),
  lot('crd_late', 20, { expiresAt: at(20) }),
  lot('crd_soon', 5, { expiresAt: at(2), source: 'pack' }),
  lot('crd_revoked', 50, { expiresAt: at(1), endedAt: at(-1) }),
  lot('crd_other_feature', 50, { feature: 'ai_tokens', expiresAt: at(1) }),
];

let client: MongoClient;
let db: Db;

test.before(async () => {
  client = await MongoClient.connect(testMongoUrl());
  db = client.db(uniqueDbName('credit_consumption'));
});

test.after.always(async () => {
  await db?.dropDatabase();
  await client?.close();
});

/** UsageService on the real stores, for customer `customerId`, with a clock the test moves. */
function world() {
  const clock = { ms: start };
  const now = () => new Date(clock.ms);
  const ledger = new UsageLedgerStore(db);
  const inputsAt = (when: Date): EntitlementInputs => ({
    catalog,
    gracePeriodSeconds: 0,
    subscriptions: [
      subscription({
        items: [
          {
            priceId: 'price_metered',
            productId: 'prod_metered',
            quantity: 1,
            currentPeriodStart: at(-5),
            currentPeriodEnd: at(25),
          },
        ],
      }),
    ],
    purchases: [],
    grants: [],
    credits: lots,
    now: when,
  });
  const announced: string[] = [];
  const recorded: RecordedUsage[] = [];
  const lookup = {
    inputsFor: async (_p: string, _c: string, when: Date) => inputsAt(when),
    computeFrom: (inputs: EntitlementInputs, projectId: string, customerId: string) =>
      withMeteredStandings(computeEntitlements(inputs), inputs, { projectId, customerId }, ledger),
  };
  const usage = new UsageService({
    lookup,
    ledger,
    reservations: new ReservationService({ ledger }),
    changes: {
      usageChanged: async (_p: string, customer: string) => {
        announced.push(customer);
      },
    },
    recorded: { recorded: async (u: RecordedUsage) => void recorded.push(u) },
    now,
  });
  const standing = async (customerId: string) => {
    const set: EntitlementSet = await lookup.computeFrom(inputsAt(now()), 'p1', customerId);
    return set.entitlements.find((e) => e.feature === 'api_requests')?.metered;
  };
  return { usage, clock, announced, recorded, standing };
}

const track = (w: ReturnType<typeof world>, customerId: string, amount: number, key: string) =>
  w.usage.track({
    projectId: 'p1',
    customerId,
    feature: 'api_requests',
    amount,
    idempotencyKey: key,
    occurredAt: undefined,
    enforce: true,
  });

async function entriesOf(customerId: string): Promise<UsageEntryDoc[]> {
  return db
    .collection<UsageEntryDoc>('usage_ledger')
    .find({ customer_id: customerId })
    .sort({ seq: 1 })
    .toArray();
}

test('usage takes the allowance, then credits by earliest expiry, then credits that never expire', async (t) => {
  const w = world();
  await track(w, 'c-order', 12, 'o-1');
  await track(w, 'c-order', 10, 'o-2');
  await track(w, 'c-order', 30, 'o-3');
  const allocations = (await entriesOf('c-order')).map((e) => e.allocation);
  t.deepEqual(allocations, [
    { from_allowance: 10, credits: [{ id: 'crd_soon', used: 2 }], overage: 0 },
    {
      from_allowance: 0,
      credits: [
        { id: 'crd_soon', used: 3 },
        { id: 'crd_late', used: 7 },
      ],
      overage: 0,
    },
    {
      from_allowance: 0,
      credits: [
        { id: 'crd_late', used: 13 },
        { id: 'crd_never', used: 17 },
      ],
      overage: 0,
    },
  ]);
  // Ended lots and another feature's lots give nothing: 83 of crd_never are left.
  t.like(await w.standing('c-order'), { usage: 52, balance: 83, credits: 83, reserved: 0 });
  t.deepEqual(
    w.recorded.map((u) => u.amount),
    [12, 10, 30],
  );
  t.deepEqual(w.announced, ['c-order', 'c-order', 'c-order']);
});

test('under block an enforced track past allowance and credits is refused with the balance, and nothing is recorded', async (t) => {
  const w = world();
  await track(w, 'c-block', 100, 'b-1');
  const error = await t.throwsAsync(track(w, 'c-block', 36, 'b-2'));
  t.true(isFailedPreconditionError(error));
  t.regex(String(error), /balance of api_requests is 35/);
  t.is((await entriesOf('c-block')).length, 1);
  t.like((await track(w, 'c-block', 35, 'b-3')).entitlement.metered, { balance: 0, credits: 0 });
});

test('a reservation holds against allowance and credits; its commit takes them in the same order', async (t) => {
  const w = world();
  await track(w, 'c-rsv', 8, 'r-0');
  const held = await w.usage.reserve({
    projectId: 'p1',
    customerId: 'c-rsv',
    feature: 'api_requests',
    amount: 20,
    ttlMs: 60_000,
    idempotencyKey: 'r-1',
  });
  t.like(held.entitlement.metered, { usage: 8, reserved: 20, credits: 125, balance: 107 });
  const committed = await w.usage.commit({
    projectId: 'p1',
    customerId: 'c-rsv',
    reservationId: held.reservationId,
    finalAmount: 15,
  });
  const last = (await entriesOf('c-rsv')).at(-1);
  t.like(last, { kind: 'commit', amount: 15, usage_id: committed.usageId });
  t.deepEqual(last?.allocation, {
    from_allowance: 2,
    credits: [
      { id: 'crd_soon', used: 5 },
      { id: 'crd_late', used: 8 },
    ],
    overage: 0,
  });
  t.like(committed.entitlement.metered, { usage: 23, reserved: 0, credits: 112, balance: 112 });
  t.deepEqual(w.recorded.at(-1), {
    projectId: 'p1',
    customerId: 'c-rsv',
    feature: 'api_requests',
    usageId: committed.usageId,
    amount: 15,
    occurredAt: new Date(start),
  });
});

test('a lot that expires stops counting at its expiry; the next one in order takes over', async (t) => {
  const w = world();
  await track(w, 'c-expire', 20, 'e-1');
  t.like(await w.standing('c-expire'), { credits: 115 });
  w.clock.ms = at(21).getTime();
  // crd_late (15 left) expired at day 20; what remains is crd_never's 100.
  t.like(await w.standing('c-expire'), { usage: 20, credits: 100, balance: 100 });
  t.deepEqual((await track(w, 'c-expire', 3, 'e-2')).entitlement.metered?.balance, 97);
  t.deepEqual((await entriesOf('c-expire')).at(-1)?.allocation?.credits, [
    { id: 'crd_never', used: 3 },
  ]);
});
