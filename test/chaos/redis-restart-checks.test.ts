// needs: mongodb redis
/**
 * Chaos: Redis is killed and started again while 4 loops run CheckEntitlement
 * without pause. Every check answers, without error and correctly (allowed and
 * limit as the customer's subscriptions say), before, during and after the
 * outage; a subscription canceled while Redis is down stops giving access as
 * soon as its webhook is answered; `/readyz` says Redis is down meanwhile; and
 * once Redis is back, answers come from it again.
 *
 * The process-memory level is off (ENTITLEMENT_MEMORY_TTL_MS=0), so every
 * check goes to Redis (or, while it is down, to MongoDB). The Redis is this
 * test's own; MongoDB is the shared one (nothing stops it here).
 */
import { Code, ConnectError } from '@connectrpc/connect';
import test from 'ava';
import { type Readiness, readyz } from '../helpers/app.js';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import { Rng, scrapeSample, seedFromEnv } from '../helpers/chaos.js';
import { type RedisHandle, startPrivateRedis } from '../helpers/services.js';
import {
  makeEvent,
  makeSubscription,
  nowSeconds,
  type SubscriptionItemSpec,
} from '../helpers/stripe-objects.js';
import { isWaitTimeoutError, pause, waitFor } from '../helpers/wait.js';

const LOOPS = 4;
/** Each phase lasts at least this long, and until it has seen MIN_CHECKS answers, however slow the machine. */
const BEFORE_MS = 2500;
const DOWN_MS = 4000;
/** After Redis is back: until its cache answers again (bounded), then this long. */
const AFTER_MS = 2500;
const REFILL_TIMEOUT_MS = 15_000;
const MIN_CHECKS = 20;
const DAY = 86_400;
const FEATURES = ['reports', 'seats', 'api_calls'] as const;
const REDIS_HITS = 'entitlement_cache_lookups_total{result="redis"}';

const seed = seedFromEnv('CHAOS_REDIS_SEED');

interface Expected {
  readonly allowed: boolean;
  readonly limit: bigint | undefined;
}

type Expectations = Readonly<Record<(typeof FEATURES)[number], Expected>>;

const none: Expected = { allowed: false, limit: undefined };
const unlimited: Expected = { allowed: true, limit: undefined };
const limited = (limit: number): Expected => ({ allowed: true, limit: BigInt(limit) });

interface Check {
  readonly customer: string;
  readonly feature: (typeof FEATURES)[number];
  readonly start: number;
  readonly end: number;
  readonly allowed?: boolean;
  readonly limit?: bigint | undefined;
  readonly error?: string;
}

let redis: RedisHandle | undefined;
let h: BillingHarness | undefined;

test.after.always(async () => {
  await h?.close();
  await redis?.stop();
});

test('checks answer, correctly, while Redis is killed and started again', async (t) => {
  t.timeout(90_000);
  t.log(`seed ${seed} (rerun with CHAOS_REDIS_SEED=${seed})`);
  const privateRedis = await startPrivateRedis();
  redis = privateRedis;
  const harness = await startBillingHarness({
    redisUrl: privateRedis.url,
    env: { ENTITLEMENT_MEMORY_TTL_MS: '0' },
  });
  h = harness;

  // Customers whose answers are known, and one whose subscription is canceled mid-outage.
  const base = nowSeconds();
  const pro = (quantity: number): SubscriptionItemSpec => ({
    price: 'price_pro_monthly',
    product: 'prod_pro',
    quantity,
    current_period_start: base - DAY,
    current_period_end: base + 29 * DAY,
  });
  const api: SubscriptionItemSpec = {
    price: 'price_api_monthly',
    product: 'prod_api',
    current_period_start: base - DAY,
    current_period_end: base + 29 * DAY,
  };
  const customers: {
    id: string;
    subscription?: { status: 'active' | 'trialing' | 'canceled'; items: SubscriptionItemSpec[] };
    expected: Expectations;
  }[] = [
    {
      id: 'pro3',
      subscription: { status: 'active', items: [pro(3)] },
      expected: { reports: unlimited, seats: limited(3), api_calls: none },
    },
    {
      id: 'pro1api',
      subscription: { status: 'active', items: [pro(1), api] },
      expected: { reports: unlimited, seats: limited(1), api_calls: limited(10_000) },
    },
    {
      id: 'trial2',
      subscription: { status: 'trialing', items: [pro(2)] },
      expected: { reports: unlimited, seats: limited(2), api_calls: none },
    },
    {
      id: 'canceled',
      subscription: { status: 'canceled', items: [pro(4)] },
      expected: { reports: none, seats: none, api_calls: none },
    },
    { id: 'nobody', expected: { reports: none, seats: none, api_calls: none } },
    {
      id: 'flip',
      subscription: { status: 'active', items: [pro(5)] },
      expected: { reports: unlimited, seats: limited(5), api_calls: none },
    },
  ];
  const flipAfter: Expectations = { reports: none, seats: none, api_calls: none };
  const stripeCustomers = new Map<string, string>();
  for (const customer of customers) {
    if (!customer.subscription) continue;
    const stripeCustomer = await harness.linkCustomer(customer.id);
    stripeCustomers.set(customer.id, stripeCustomer);
    const subscription = makeSubscription({
      id: `sub_redis_chaos_${customer.id}`,
      customer: stripeCustomer,
      status: customer.subscription.status,
      created: base - 2 * DAY,
      current_period_start: base - DAY,
      items: customer.subscription.items,
      trial_end: customer.subscription.status === 'trialing' ? base + 5 * DAY : null,
    });
    const answer = await harness.post(
      makeEvent({
        type: 'customer.subscription.created',
        object: subscription,
        created: base - 60,
      }),
    );
    if (answer.status !== 200) throw new Error(`setup of ${customer.id}: ${answer.status}`);
  }
  const byId = new Map(customers.map((c) => [c.id, c]));
  const flipCustomer = stripeCustomers.get('flip');
  if (flipCustomer === undefined) throw new Error('flip is not linked');

  // The loops.
  const checks: Check[] = [];
  let running = true;
  const pairs = customers.flatMap((c) => FEATURES.map((feature) => ({ customer: c.id, feature })));
  const loop = async (index: number): Promise<void> => {
    const rng = new Rng(seed + index);
    while (running) {
      const { customer, feature } = rng.pick(pairs);
      const start = Date.now();
      try {
        const answer = await harness.entitlements.checkEntitlement(
          { customerId: customer, feature },
          harness.auth,
        );
        checks.push({
          customer,
          feature,
          start,
          end: Date.now(),
          allowed: answer.entitlement?.allowed ?? false,
          limit: answer.entitlement?.limit,
        });
      } catch (err) {
        const code = err instanceof ConnectError ? Code[err.code] : 'not a ConnectError';
        const message = err instanceof Error ? err.message : String(err);
        checks.push({ customer, feature, start, end: Date.now(), error: `${code}: ${message}` });
      }
    }
  };
  const hitsAtStart = await scrapeSample(harness.server.baseUrl, REDIS_HITS);
  const loops = Array.from({ length: LOOPS }, (_, i) => loop(i));
  /** Checks answered that began at `from` or later. */
  const answeredSince = (from: number, customer?: string) =>
    checks.filter(
      (c) =>
        c.start >= from &&
        c.error === undefined &&
        (customer === undefined || c.customer === customer),
    ).length;
  const atLeast = (count: number, what: string, since: () => number, customer?: string) =>
    waitFor(() => answeredSince(since(), customer), { what, until: (n) => n >= count });

  let killedAt = 0;
  let restartedAt = 0;
  let flipPostedAt = 0;
  let flipAppliedAt = 0;
  let hitsBefore = 0;
  let hitsAtRestart = 0;
  let refilledAfterMs: number | undefined;
  let readyDuring: Readiness | undefined;
  let readyAfter: Readiness | undefined;
  try {
    await pause(BEFORE_MS);
    await atLeast(MIN_CHECKS, `${MIN_CHECKS} checks before the outage`, () => 0);
    hitsBefore = await scrapeSample(harness.server.baseUrl, REDIS_HITS);
    await privateRedis.stop();
    killedAt = Date.now();

    await pause(DOWN_MS / 4);
    readyDuring = await readyz(harness.server.baseUrl);
    flipPostedAt = Date.now();
    const canceled = await harness.post(
      makeEvent({
        type: 'customer.subscription.deleted',
        created: base - 30,
        object: makeSubscription({
          id: 'sub_redis_chaos_flip',
          customer: flipCustomer,
          status: 'canceled',
          created: base - 2 * DAY,
          current_period_start: base - DAY,
          items: [pro(5)],
          canceled_at: base - 30,
          ended_at: base - 30,
        }),
      }),
    );
    flipAppliedAt = Date.now();
    t.is(canceled.status, 200, 'a webhook applies while Redis is down');
    await pause(Math.max(0, killedAt + DOWN_MS - Date.now()));
    await atLeast(MIN_CHECKS, `${MIN_CHECKS} checks while Redis is down`, () => killedAt);
    await atLeast(
      1,
      'a check of the canceled customer after its webhook',
      () => flipAppliedAt,
      'flip',
    );

    await privateRedis.start();
    restartedAt = Date.now();
    hitsAtRestart = await scrapeSample(harness.server.baseUrl, REDIS_HITS);
    refilledAfterMs = await waitFor(() => scrapeSample(harness.server.baseUrl, REDIS_HITS), {
      what: 'answers from Redis again',
      until: (hits) => hits > hitsAtRestart,
      timeoutMs: REFILL_TIMEOUT_MS,
      everyMs: 100,
    }).then(
      () => Date.now() - restartedAt,
      (error: unknown) => {
        // Asserted below, with the rest.
        if (!isWaitTimeoutError(error)) throw error;
        return undefined;
      },
    );
    await pause(AFTER_MS);
    await atLeast(MIN_CHECKS, `${MIN_CHECKS} checks after the outage`, () => restartedAt);
    readyAfter = await waitFor(() => readyz(harness.server.baseUrl), {
      what: '/readyz to say 200 once Redis is back',
      until: (ready) => ready.status === 200,
      everyMs: 200,
    });
  } finally {
    running = false;
    await Promise.all(loops);
  }
  const stoppedAt = Date.now();

  // Every check answered, and correctly.
  const wrong: (Check & { expected: Expected | string })[] = [];
  for (const check of checks) {
    if (check.error !== undefined) {
      wrong.push({ ...check, expected: 'an answer' });
      continue;
    }
    const customer = byId.get(check.customer);
    if (!customer) throw new Error(`unknown customer ${check.customer}`);
    let expected: Expected | undefined = customer.expected[check.feature];
    if (check.customer === 'flip') {
      // Either answer is right for a check that overlapped the webhook.
      if (check.start >= flipAppliedAt) expected = flipAfter[check.feature];
      else if (check.end > flipPostedAt) expected = undefined;
    }
    if (
      expected !== undefined &&
      (check.allowed !== expected.allowed || check.limit !== expected.limit)
    ) {
      wrong.push({ ...check, expected });
    }
  }

  const phase = (from: number, to: number) =>
    checks.filter((c) => c.start >= from && c.end <= to && c.error === undefined);
  const before = phase(0, killedAt);
  const during = phase(killedAt, restartedAt);
  const after = phase(restartedAt, stoppedAt);
  const slowest = (list: readonly Check[]) => Math.max(0, ...list.map((c) => c.end - c.start));
  t.log(
    `${checks.length} checks: ${before.length} before (slowest ${slowest(before)} ms), ` +
      `${during.length} while Redis was down (slowest ${slowest(during)} ms), ` +
      `${after.length} after (slowest ${slowest(after)} ms); Redis hits resumed ` +
      `${refilledAfterMs ?? 'never'} ms after the restart`,
  );
  t.deepEqual(wrong.slice(0, 10), [], `${wrong.length} of ${checks.length} checks wrong or failed`);
  for (const [name, list] of [
    ['before', before],
    ['during', during],
    ['after', after],
  ] as const) {
    t.true(list.length >= MIN_CHECKS, `checks ran ${name} the outage (${list.length})`);
  }
  t.true(
    during.some((c) => c.customer === 'flip' && c.start >= flipAppliedAt),
    'the canceled subscription was checked after its webhook, while Redis was down',
  );

  t.true(hitsBefore > hitsAtStart, 'answers came from Redis before the outage');
  t.deepEqual(
    { status: readyDuring?.status, redis: readyDuring?.body.checks.redis },
    { status: 503, redis: false },
    '/readyz while Redis is down',
  );
  t.not(refilledAfterMs, undefined, 'answers come from Redis again once it is back');
  t.is(readyAfter?.status, 200, '/readyz once Redis is back');
});
