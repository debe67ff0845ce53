// needs: mongodb redis
/**
 * Chaos: 10,000 webhook deliveries (about 30% of them duplicates), shuffled,
 * 16 in flight at a time, while the MongoDB-compatible server is restarted
 * once half-way. Stripe's retries are simulated: every non-2xx answer (and
 * every dropped connection) is posted again later, with backoff, at a random
 * place in the queue, within a bounded number of attempts and a deadline.
 *
 * The services run against a FerretDB of this test's own (temporary folder),
 * so restarting it disturbs no other test file. The customers are dealt to
 * SERVICES services, each with its own database on that FerretDB (see
 * SERVICES for why); the 16 workers share one queue over all of them.
 *
 * The histories are subscriptions only (created, updated, deleted, with
 * strictly increasing `created` per subscription), so no event makes the
 * service call Stripe. Expected state, per customer, from an oracle: the
 * service's pure engine (`computeEntitlements`) over the state of each
 * subscription in its last event. The oracle itself is checked against a
 * real in-order, one-at-a-time delivery of a sample of the customers into
 * one more service (its own database on the shared FerretDB, which nothing
 * restarts), run at the same time: an in-order reference of all 7,000 events
 * would take longer than the chaos run itself.
 *
 * Checked afterwards: one receipt per distinct event, all processed; every
 * event applied by a 2xx `processed` and every other 2xx a duplicate; the
 * newest stored version of each subscription is its last event; per
 * customer, the entitlements computed from MongoDB
 * (`app.entitlements.compute`) and those served by ListEntitlements (through
 * the caches, which were read all along) equal the oracle's.
 *
 * Seeds: CHAOS_WEBHOOK_SEED=<seed> replays the histories and the delivery
 * order (not the timing of concurrent requests). CHAOS_PROGRESS=1 prints
 * progress to stderr.
 */
import test from 'ava';
import { MongoClient } from 'mongodb';
import type Stripe from 'stripe';
import { catalogFromEntries } from '../../src/domain/catalog.js';
import { computeEntitlements, type EntitlementSet } from '../../src/domain/entitlements.js';
import { pastDueSince } from '../../src/domain/past-due.js';
import { subscriptionFacts } from '../../src/services/entitlement-facts.js';
import { subscriptionDoc } from '../../src/stripe/subscription-mapping.js';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import {
  type ComparableSet,
  canonical,
  comparableMessages,
  comparableSet,
  differences,
  forEachLimit,
  type PrivateFerretDb,
  Rng,
  seedFromEnv,
  startPrivateFerretDb,
} from '../helpers/chaos.js';
import { lastOf, type SubStatus, subscriptionTransitions } from '../helpers/random.js';
import { uniqueDbName } from '../helpers/services.js';
import { makeEvent, makeSubscription, nowSeconds } from '../helpers/stripe-objects.js';
import { isWaitTimeoutError, pause, waitFor } from '../helpers/wait.js';

const DELIVERIES = 10_000;
const DUPLICATE_SHARE = 0.3;
const IN_FLIGHT = 16;
/** Customers delivered once, in order, into the reference service (validates the oracle). */
const REFERENCE_CUSTOMERS = 20;
/**
 * Per delivery: Stripe gives up after days; here a delivery that needs this many attempts
 * (about a minute of backoff, far beyond the lease below) is a failure.
 */
const MAX_ATTEMPTS = 20;
/** A service that answers nothing but non-2xx for this long has not survived the restart. */
const SERVICE_STUCK_MS = 60_000;
/**
 * The chaos delivery as a whole. Measured on this 2-core machine: 145 to 230 s
 * (FerretDB's CPU is the bottleneck); the runner gives the chaos files the machine to
 * themselves (scripts/run-tests.ts), and this leaves room for a slower CI machine.
 */
const DELIVERY_DEADLINE_MS = 420_000;
const TEST_TIMEOUT_MS = 540_000;
/**
 * A receipt left `processing` by a delivery that failed while MongoDB was down (its
 * `fail` could not be written either) blocks retries (409) until its lease ends: 30 s
 * by default, 10 s here to keep the run short. Still far above the time one delivery
 * takes, so a live delivery is never taken over.
 */
const WEBHOOK_LEASE_MS = 10_000;
/** Share of 2xx answers followed by a ListEntitlements of that customer (fills the caches mid-stream). */
const READ_SHARE = 0.02;
const SETUP_CONCURRENCY = 8;
/**
 * Services the customers are dealt to, each with its own database, all on the one
 * FerretDB that is restarted. FerretDB answers a query whose filter is not just `_id` by
 * scanning the collection (measured here: about 24 µs per document), and every event
 * filters its customer links and its subscription's versions that way, so one database
 * with all 7,000 events gets slower with each of them. Measured for 4,000 deliveries:
 * 88 s over 12 services, 31 s over 24, 22 s over 48. All 10,000 over 48: 145 to 230 s in
 * runs of the whole suite here.
 */
const SERVICES = 48;
const DAY = 86_400;
/** Past_due events happen two to three days before the run: their grace ends days after it. */
const GRACE_PERIOD_SECONDS = 5 * DAY;

const seed = seedFromEnv('CHAOS_WEBHOOK_SEED');

// --- Histories ---

interface SubState {
  readonly status: SubStatus;
  readonly quantity: number;
  /** A second item, of product prod_api (api_calls). */
  readonly withApi: boolean;
  readonly cancelAtPeriodEnd: boolean;
  readonly trialEnd: number | null;
  readonly canceledAt: number | null;
  readonly endedAt: number | null;
}

type SubscriptionEventType =
  | 'customer.subscription.created'
  | 'customer.subscription.updated'
  | 'customer.subscription.deleted';

interface SubEvent {
  readonly id: string;
  readonly type: SubscriptionEventType;
  readonly created: number;
  readonly state: SubState;
}

interface SubHistory {
  readonly id: string;
  readonly created: number;
  /** In `created` order, strictly increasing. */
  readonly events: readonly SubEvent[];
}

interface CustomerHistory {
  readonly customerId: string;
  readonly subscriptions: readonly SubHistory[];
}

/**
 * Every time that decides an answer is days away from the run (trials that
 * ended two days ago or end in five, periods ending in 29 days, a grace
 * period of five days from a past_due event two to three days ago, so it
 * ends two to three days from now), so the expected state holds for the
 * whole run.
 */
function generateSubscription(rng: Rng, id: string, base: number, eventId: () => string) {
  let t = base - 3 * DAY + rng.int(0, DAY);
  const created = t;
  const tick = (): number => {
    t += rng.int(1, 900);
    return t;
  };
  const trialEnd = (): number => base + rng.pick([-2, 5]) * DAY;
  const status = rng.pick(['active', 'active', 'trialing', 'incomplete'] as const);
  let state: SubState = {
    status,
    quantity: rng.int(1, 5),
    withApi: rng.chance(0.3),
    cancelAtPeriodEnd: false,
    trialEnd: status === 'trialing' ? trialEnd() : null,
    canceledAt: null,
    endedAt: null,
  };
  const events: SubEvent[] = [
    { id: eventId(), type: 'customer.subscription.created', created, state },
  ];
  const updates = rng.int(0, 4);
  for (let i = 0; i < updates && state.status !== 'canceled'; i += 1) {
    const at = tick();
    const next = rng.chance(0.5) ? rng.pick(subscriptionTransitions[state.status]) : state.status;
    if (next === 'canceled') {
      state = { ...state, status: next, canceledAt: state.canceledAt ?? at, endedAt: at };
    } else {
      const cancelAtPeriodEnd = rng.chance(0.3)
        ? !state.cancelAtPeriodEnd
        : state.cancelAtPeriodEnd;
      state = {
        status: next,
        quantity: rng.chance(0.3) ? rng.int(1, 8) : state.quantity,
        withApi: rng.chance(0.15) ? !state.withApi : state.withApi,
        cancelAtPeriodEnd,
        trialEnd: next === 'trialing' && state.trialEnd === null ? trialEnd() : state.trialEnd,
        canceledAt: cancelAtPeriodEnd ? (state.canceledAt ?? at) : null,
        endedAt: null,
      };
    }
    events.push({ id: eventId(), type: 'customer.subscription.updated', created: at, state });
  }
  if (rng.chance(state.status === 'canceled' ? 0.8 : 0.3)) {
    const at = tick();
    state = {
      ...state,
      status: 'canceled',
      canceledAt: state.canceledAt ?? at,
      endedAt: state.endedAt ?? at,
    };
    events.push({ id: eventId(), type: 'customer.subscription.deleted', created: at, state });
  }
  return { id, created, events };
}

/** Customers with 2 to 6 subscriptions each, until there are at least `minEvents` events. */
function generateHistories(rng: Rng, minEvents: number, base: number): CustomerHistory[] {
  const tag = seed.toString(36);
  const histories: CustomerHistory[] = [];
  let events = 0;
  let counter = 0;
  const eventId = (): string => {
    counter += 1;
    return `evt_chaos_${tag}_${counter}`;
  };
  while (events < minEvents) {
    const c = histories.length;
    const subscriptions = Array.from({ length: rng.int(2, 6) }, (_, s) =>
      generateSubscription(rng, `sub_chaos_${tag}_${c}_${s}`, base, eventId),
    );
    events += subscriptions.reduce((sum, sub) => sum + sub.events.length, 0);
    histories.push({ customerId: `cust_chaos_${c}`, subscriptions });
  }
  return histories;
}

function subscriptionObject(
  sub: SubHistory,
  state: SubState,
  stripeCustomer: string,
  base: number,
): Stripe.Subscription {
  const start = base - DAY;
  const end = base + 29 * DAY;
  const item = (suffix: string, price: string, product: string, quantity: number) => ({
    id: `si_${sub.id}_${suffix}`,
    price,
    product,
    quantity,
    created: sub.created,
    current_period_start: start,
    current_period_end: end,
  });
  return makeSubscription({
    id: sub.id,
    customer: stripeCustomer,
    status: state.status,
    created: sub.created,
    current_period_start: start,
    items: state.withApi
      ? [
          item('pro', 'price_pro_monthly', 'prod_pro', state.quantity),
          item('api', 'price_api_monthly', 'prod_api', 1),
        ]
      : [item('pro', 'price_pro_monthly', 'prod_pro', state.quantity)],
    cancel_at_period_end: state.cancelAtPeriodEnd,
    cancel_at: state.cancelAtPeriodEnd ? end : null,
    canceled_at: state.canceledAt,
    ended_at: state.endedAt,
    trial_start: state.trialEnd === null ? null : sub.created,
    trial_end: state.trialEnd,
    latest_invoice: null,
  });
}

// --- One service: customers linked, events built ---

interface Run {
  readonly h: BillingHarness;
  /** The service's database. */
  readonly database: string;
  readonly histories: readonly CustomerHistory[];
  /** Per customer id, its Stripe customer id in this service's fake Stripe account. */
  readonly stripeCustomers: Map<string, string>;
}

/**
 * A service with its own database (on the given FerretDB, else on the shared one), its
 * customers linked the way products link them (CreateCheckoutSession).
 */
async function startRun(
  histories: readonly CustomerHistory[],
  mongoUrl: string | undefined,
): Promise<Run> {
  const database = uniqueDbName('chaos_webhooks');
  const h = await startBillingHarness({
    env: {
      ...(mongoUrl === undefined ? {} : { MONGODB_URL: mongoUrl }),
      MONGODB_DATABASE: database,
      WEBHOOK_LEASE_MS: String(WEBHOOK_LEASE_MS),
      // Background jobs play no part here: poll for them rarely (49 services share 2 cores).
      JOB_POLL_MS: '60000',
    },
  });
  harnesses.push(h);
  await h.server.app.projects.update(
    h.project.projectId,
    { gracePeriodSeconds: GRACE_PERIOD_SECONDS },
    'test',
    'grace ends days after the run',
  );
  const stripeCustomers = new Map<string, string>();
  await forEachLimit(histories, SETUP_CONCURRENCY, async ({ customerId }) => {
    stripeCustomers.set(customerId, await h.linkCustomer(customerId));
  });
  return { h, database, histories, stripeCustomers };
}

function stripeCustomerOf(run: Run, customerId: string): string {
  const id = run.stripeCustomers.get(customerId);
  if (id === undefined) throw new Error(`${customerId} is not linked`);
  return id;
}

function eventsOf(run: Run, history: CustomerHistory, base: number) {
  const customer = stripeCustomerOf(run, history.customerId);
  return history.subscriptions.flatMap((sub) =>
    sub.events.map((event) =>
      makeEvent({
        id: event.id,
        type: event.type,
        created: event.created,
        object: subscriptionObject(sub, event.state, customer, base),
      }),
    ),
  );
}

/** The oracle: the engine over each subscription's state in its last event. */
async function oracle(
  run: Run,
  histories: readonly CustomerHistory[],
  base: number,
  now: Date,
): Promise<Map<string, ComparableSet>> {
  const projectId = run.h.project.projectId;
  const project = await run.h.server.app.projects.get(projectId);
  if (!project) throw new Error('the project vanished');
  const out = new Map<string, ComparableSet>();
  for (const history of histories) {
    const customer = stripeCustomerOf(run, history.customerId);
    const set: EntitlementSet = computeEntitlements({
      catalog: catalogFromEntries(project.catalog),
      gracePeriodSeconds: project.grace_period_seconds,
      subscriptions: history.subscriptions.map((sub) => {
        const last = lastOf(sub.events);
        const object = subscriptionObject(sub, last.state, customer, base);
        return subscriptionFacts({
          doc: subscriptionDoc(projectId, object, last.created, now),
          pastDueSince: pastDueSince(
            sub.events.map((event) => ({
              status: event.state.status,
              eventCreated: event.created,
              fetchedFromStripe: false,
              sameSecondStatuses: [],
            })),
          ),
        });
      }),
      purchases: [],
      grants: [],
      credits: [],
      now,
    });
    out.set(history.customerId, comparableSet(set));
  }
  return out;
}

async function computedSets(run: Run, histories: readonly CustomerHistory[], now: Date) {
  const out = new Map<string, ComparableSet>();
  await forEachLimit(histories, SETUP_CONCURRENCY, async ({ customerId }) => {
    const set = await run.h.server.app.entitlements.compute(
      run.h.project.projectId,
      customerId,
      now,
    );
    out.set(customerId, comparableSet(set));
  });
  return out;
}

async function servedSets(run: Run, customerIds: readonly string[]) {
  const out = new Map<string, ComparableSet>();
  await forEachLimit(customerIds, SETUP_CONCURRENCY, async (customerId) => {
    const response = await run.h.entitlements.listEntitlements({ customerId }, run.h.auth);
    out.set(customerId, comparableMessages(response));
  });
  return out;
}

// --- Delivery ---

interface Answer {
  readonly status: number;
  readonly outcome: string;
}

async function post(h: BillingHarness, event: Stripe.Event): Promise<Answer> {
  try {
    const answer = await h.post(event);
    return { status: answer.status, outcome: answer.body.outcome ?? answer.body.error ?? '' };
  } catch (err) {
    // A dropped connection: Stripe retries it like any failure.
    return { status: 0, outcome: err instanceof Error ? err.message : String(err) };
  }
}

const isSuccess = (answer: Answer): boolean => answer.status >= 200 && answer.status < 300;

/** Stripe's retries back off; here 50 ms doubling up to 4 s, with jitter. */
function retryDelay(rng: Rng, attempts: number): number {
  return Math.min(50 * 2 ** (attempts - 1), 4000) * (0.5 + rng.float());
}

const progress = (message: string): void => {
  if (process.env.CHAOS_PROGRESS === '1') process.stderr.write(`[chaos] ${message}\n`);
};

/** The reference: every event once, in `created` order, one at a time, each retried until 2xx. */
async function deliverInOrder(run: Run, events: readonly Stripe.Event[]): Promise<void> {
  const rng = new Rng(seed);
  for (const event of events) {
    for (let attempts = 1; ; attempts += 1) {
      const answer = await post(run.h, event);
      if (isSuccess(answer)) {
        if (answer.outcome !== 'processed') {
          throw new Error(`in-order delivery of ${event.id}: outcome ${answer.outcome}`);
        }
        break;
      }
      if (attempts >= MAX_ATTEMPTS) {
        throw new Error(`in-order delivery of ${event.id}: ${answer.status} ${answer.outcome}`);
      }
      await pause(retryDelay(rng, attempts)); // Stripe retries later
    }
  }
}

interface Delivery {
  readonly run: Run;
  readonly event: Stripe.Event;
  readonly customerId: string;
  attempts: number;
}

interface ChaosResult {
  /** Per event id, every answer its deliveries got. */
  readonly answers: Map<string, Answer[]>;
  /** Non-2xx answers (re-posted) by status. */
  readonly retried: Record<string, number>;
  readonly reads: number;
  readonly readFailures: number;
  readonly restart: string;
}

/**
 * IN_FLIGHT workers share one shuffled queue; a non-2xx answer puts the delivery back
 * at a random place after a backoff (Stripe retries later, in no particular order).
 * Now and then a worker reads the customer's entitlements through the RPC, which fills
 * the caches mid-stream. Once half of the deliveries have had a 2xx, FerretDB is
 * restarted (in the background: the workers keep posting).
 */
async function deliverInChaos(
  runs: readonly Run[],
  queue: Delivery[],
  rng: Rng,
  restartMongo: () => Promise<void>,
): Promise<ChaosResult> {
  const total = queue.length;
  const answers = new Map<string, Answer[]>();
  const retried: Record<string, number> = {};
  let inFlight = 0;
  let waiting = 0;
  let completed = 0;
  let reads = 0;
  let readFailures = 0;
  let restart: Promise<string> | undefined;
  let failure: Error | undefined;
  /** Per service, since when it has answered nothing but non-2xx. */
  const failingSince = new Map<Run, number>();
  const started = Date.now();
  const deadline = started + DELIVERY_DEADLINE_MS;

  const restartOnce = async (): Promise<string> => {
    const at = Date.now();
    const before = completed;
    await restartMongo();
    return (
      `FerretDB restarted once ${before} of ${total} deliveries had a 2xx (${at - started} ms ` +
      `in), down for ${Date.now() - at} ms, ${completed - before} deliveries answered 2xx meanwhile`
    );
  };

  const worker = async (): Promise<void> => {
    while (failure === undefined) {
      const delivery = queue.shift();
      if (delivery === undefined) {
        if (inFlight === 0 && waiting === 0) return;
        await pause(5); // retries are pending: look at the queue again soon
        continue;
      }
      inFlight += 1;
      try {
        delivery.attempts += 1;
        const { h } = delivery.run;
        const answer = await post(h, delivery.event);
        const list = answers.get(delivery.event.id) ?? [];
        list.push(answer);
        answers.set(delivery.event.id, list);
        if (isSuccess(answer)) {
          completed += 1;
          failingSince.delete(delivery.run);
          if (restart === undefined && completed >= total / 2) restart = restartOnce();
          if (rng.chance(READ_SHARE)) {
            reads += 1;
            await h.entitlements
              .listEntitlements({ customerId: delivery.customerId }, h.auth)
              .catch(() => {
                readFailures += 1;
              });
          }
          continue;
        }
        retried[answer.status] = (retried[answer.status] ?? 0) + 1;
        const now = Date.now();
        const since = failingSince.get(delivery.run) ?? now;
        failingSince.set(delivery.run, since);
        if (delivery.attempts >= MAX_ATTEMPTS || now - since > SERVICE_STUCK_MS || now > deadline) {
          failure = new Error(
            `${delivery.event.id} still failing after ${delivery.attempts} attempts ` +
              `(${now - started} ms into the run; its service has answered nothing but ` +
              `non-2xx for ${now - since} ms): ${answer.status} ${answer.outcome}`,
          );
          return;
        }
        waiting += 1;
        setTimeout(
          () => {
            waiting -= 1;
            queue.splice(rng.int(0, queue.length), 0, delivery);
          },
          retryDelay(rng, delivery.attempts),
        );
      } finally {
        inFlight -= 1;
      }
    }
  };

  const ticker = setInterval(
    () =>
      progress(`${Date.now() - started} ms: ${completed} 2xx, retried ${JSON.stringify(retried)}`),
    5000,
  );
  try {
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  } finally {
    clearInterval(ticker);
  }
  const restarted = await restart;
  if (failure) {
    // Name the services that cannot reach MongoDB any more, if any.
    const unready = (
      await Promise.all(
        runs.map(async (run, i) => ({ service: i, ...(await run.h.server.app.readiness()) })),
      )
    ).filter((r) => !r.ready);
    throw new Error(
      `${failure.message}; services not ready: ${JSON.stringify(unready)} ` +
        `(answers so far: ${completed} 2xx, re-posted ${JSON.stringify(retried)})`,
    );
  }
  if (restarted === undefined) throw new Error('FerretDB was never restarted');
  return { answers, retried, reads, readFailures, restart: restarted };
}

// --- Checks ---

/** Receipts, and the newest stored version of each subscription, of one service. */
async function storedState(mongo: MongoClient, run: Run) {
  const db = mongo.db(run.database);
  const projectId = run.h.project.projectId;
  const receipts = await db
    .collection<{ event_id: string; status: string }>('event_receipts')
    .find({ project_id: projectId }, { projection: { _id: 0, event_id: 1, status: 1 } })
    .toArray();
  const versions = await db
    .collection<{ stripe_subscription_id: string; event_created: number; status: string }>(
      'subscriptions',
    )
    .find(
      { project_id: projectId },
      { projection: { _id: 0, stripe_subscription_id: 1, event_created: 1, status: 1 } },
    )
    .toArray();
  const newest = new Map<string, { created: number; status: string }>();
  for (const v of versions) {
    const seen = newest.get(v.stripe_subscription_id);
    if (!seen || v.event_created > seen.created) {
      newest.set(v.stripe_subscription_id, { created: v.event_created, status: v.status });
    }
  }
  const expectedNewest = new Map(
    run.histories.flatMap((history) =>
      history.subscriptions.map((sub): [string, { created: number; status: string }] => {
        const last = lastOf(sub.events);
        return [sub.id, { created: last.created, status: last.state.status }];
      }),
    ),
  );
  return { receipts, notAtLastEvent: differences(expectedNewest, newest) };
}

/**
 * Per customer: the oracle, the set computed from MongoDB, and the set served by
 * ListEntitlements. Served sets may trail a change by one pub/sub delivery (the
 * documented staleness of the in-process cache): stale ones are re-read briefly.
 */
async function entitlementSets(run: Run, base: number, now: Date) {
  const ids = run.histories.map((h) => h.customerId);
  const expected = await oracle(run, run.histories, base, now);
  const computed = await computedSets(run, run.histories, now);
  const served = await servedSets(run, ids);
  let rereads = 0;
  const stale = () => ids.filter((id) => canonical(served.get(id)) !== canonical(expected.get(id)));
  await waitFor(
    async () => {
      const now = stale();
      if (now.length === 0) return true;
      rereads += 1;
      for (const [id, set] of await servedSets(run, now)) served.set(id, set);
      return stale().length === 0;
    },
    { what: 'served sets to catch up with the stored ones', timeoutMs: 30_000, everyMs: 100 },
  ).catch((error: unknown) => {
    // The caller's comparison names every set still different.
    if (!isWaitTimeoutError(error)) throw error;
  });
  return { expected, computed, served, rereads };
}

// --- The test ---

let ferret: PrivateFerretDb | undefined;
const harnesses: BillingHarness[] = [];

test.after.always(async () => {
  await Promise.all(harnesses.map((h) => h.close()));
  await ferret?.dispose();
});

test('10,000 deliveries, 30% duplicates, shuffled, 16 at a time, MongoDB restarted once: all applied, as in order', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  t.log(`seed ${seed} (rerun with CHAOS_WEBHOOK_SEED=${seed})`);
  const started = Date.now();
  const rng = new Rng(seed);
  const base = nowSeconds();
  const histories = generateHistories(rng, Math.round(DELIVERIES * (1 - DUPLICATE_SHARE)), base);
  const referenceHistories = histories.slice(0, REFERENCE_CUSTOMERS);

  const server = await startPrivateFerretDb();
  ferret = server;
  const [reference, ...runs] = await Promise.all([
    // The reference lives on the shared FerretDB: the restart must not touch it.
    startRun(referenceHistories, undefined),
    ...Array.from({ length: SERVICES }, (_, i) =>
      startRun(
        histories.filter((_, c) => c % SERVICES === i),
        server.url,
      ),
    ),
  ]);
  if (!reference) throw new Error('no reference service');
  const setupMs = Date.now() - started;
  progress(`setup ${setupMs} ms`);

  const referenceEvents = referenceHistories
    .flatMap((history) => eventsOf(reference, history, base))
    .sort((a, b) => a.created - b.created);
  const events: Delivery[] = runs.flatMap((run) =>
    run.histories.flatMap((history) =>
      eventsOf(run, history, base).map((event) => ({
        run,
        event,
        customerId: history.customerId,
        attempts: 0,
      })),
    ),
  );
  const deliveries = events.map((e) => ({ ...e }));
  while (deliveries.length < DELIVERIES) deliveries.push({ ...rng.pick(events) });
  const queue = rng.shuffle(deliveries);
  t.log(
    `${histories.length} customers, ${histories.reduce((n, h) => n + h.subscriptions.length, 0)} ` +
      `subscriptions, ${events.length} events, ${queue.length} deliveries ` +
      `(${queue.length - events.length} duplicates) over ${runs.length} services; setup ${setupMs} ms`,
  );

  // Both deliveries at once: they share no database and no FerretDB.
  const deliveryStarted = Date.now();
  let referenceMs = 0;
  const [, chaos] = await Promise.all([
    deliverInOrder(reference, referenceEvents).then(() => {
      referenceMs = Date.now() - deliveryStarted;
    }),
    deliverInChaos(runs, queue, rng, () => server.restart()),
  ]);
  const deliveredAt = Date.now();
  t.log(
    `chaos delivery ${deliveredAt - deliveryStarted} ms, re-posted ${JSON.stringify(chaos.retried)}, ` +
      `${chaos.reads} reads (${chaos.readFailures} failed); ${chaos.restart}; ` +
      `in order: ${referenceEvents.length} events in ${referenceMs} ms`,
  );

  // Exactly once in effect: each event applied by one delivery answered 2xx `processed`,
  // every other 2xx a duplicate. A failed attempt may leave its receipt failed (or
  // processing until its lease ends), and the next delivery applies the event again:
  // harmless, and counted.
  const notOnce: { event: string; answers: Answer[] }[] = [];
  let appliedAgain = 0;
  for (const { event } of events) {
    const answers = chaos.answers.get(event.id) ?? [];
    const ok = answers.filter(isSuccess);
    const processed = ok.filter((a) => a.outcome === 'processed').length;
    const failedBefore = answers.some((a) => !isSuccess(a) && a.status !== 409);
    if (processed > 1 && failedBefore) appliedAgain += 1;
    if (
      processed === 0 ||
      (processed > 1 && !failedBefore) ||
      ok.some((a) => a.outcome !== 'processed' && a.outcome !== 'duplicate')
    ) {
      notOnce.push({ event: event.id, answers });
    }
  }
  t.deepEqual(
    notOnce.slice(0, 10),
    [],
    `${notOnce.length} events not applied exactly once (processed: 0 means that the only ` +
      'delivery that applied it answered non-2xx, and every retry was a duplicate)',
  );
  t.log(`${appliedAgain} events applied again after a failed attempt`);

  const mongo = new MongoClient(server.url, { serverSelectionTimeoutMS: 10_000 });
  try {
    const stored = await Promise.all(runs.map((run) => storedState(mongo, run)));
    const receipts = stored.flatMap((s) => s.receipts);
    t.is(receipts.length, events.length, 'one receipt per distinct event');
    t.is(new Set(receipts.map((r) => r.event_id)).size, events.length);
    t.deepEqual(
      receipts.filter((r) => r.status !== 'processed').slice(0, 10),
      [],
      'every receipt processed',
    );
    const notAtLast = stored.flatMap((s) => s.notAtLastEvent);
    t.deepEqual(
      notAtLast.slice(0, 10),
      [],
      `${notAtLast.length} subscriptions whose newest stored version is not their last event`,
    );
  } finally {
    await mongo.close();
  }

  // The oracle, validated on the sample against the in-order delivery; then the chaos
  // services against the oracle.
  const now = new Date();
  const [referenceExpected, referenceComputed] = await Promise.all([
    oracle(reference, referenceHistories, base, now),
    computedSets(reference, referenceHistories, now),
  ]);
  t.deepEqual(
    differences(referenceExpected, referenceComputed).slice(0, 5),
    [],
    'the oracle agrees with the in-order delivery',
  );
  // Two services at a time, 8 customers each: 16 requests in flight, as in the delivery.
  const sets: Awaited<ReturnType<typeof entitlementSets>>[] = [];
  await forEachLimit(runs, 2, async (run) => {
    sets.push(await entitlementSets(run, base, now));
  });
  const merged = (pick: (s: (typeof sets)[number]) => Map<string, ComparableSet>) =>
    new Map(sets.flatMap((s) => [...pick(s)]));
  const expected = merged((s) => s.expected);
  const computed = merged((s) => s.computed);
  const served = merged((s) => s.served);
  t.deepEqual(
    differences(
      referenceComputed,
      new Map(referenceHistories.map(({ customerId }) => [customerId, computed.get(customerId)])),
    ).slice(0, 5),
    [],
    'the chaos services agree with the in-order delivery on the sample',
  );
  const computedDiff = differences(expected, computed);
  t.deepEqual(
    computedDiff.slice(0, 5),
    [],
    `${computedDiff.length} customers: computed entitlements differ from the oracle`,
  );
  const servedDiff = differences(expected, served);
  t.deepEqual(
    servedDiff.slice(0, 5),
    [],
    `${servedDiff.length} customers: ListEntitlements differs from the oracle`,
  );

  // Not vacuous: both answers occur.
  const withAccess = [...expected.values()].filter((set) => set.entitlements.length > 0).length;
  t.true(withAccess > 0 && withAccess < histories.length);
  t.log(
    `${withAccess} of ${histories.length} customers end with some entitlement; checks ` +
      `${Date.now() - deliveredAt} ms (served after ${Math.max(...sets.map((s) => s.rereads))} ` +
      `re-reads); total ${Date.now() - started} ms`,
  );
});
