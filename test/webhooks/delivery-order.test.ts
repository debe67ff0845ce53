// needs: mongodb redis
/**
 * The webhook promise, as a property: "Delivering any set of events in any
 * order, any number of times, concurrently, must end in the same state as
 * delivering each once in order."
 *
 * Each case is one customer with a random, Stripe-consistent history
 * (subscription lifecycles with invoices and subscription-mode checkouts
 * that make the service fetch the subscription, one-time purchases, delayed
 * payments, partial and full refunds), described without any
 * project-specific id. The history is materialized in two fresh services,
 * each with its own project and fake Stripe account (so Stripe customer,
 * session and payment intent ids differ, and are mapped back to logical
 * names before comparing):
 * - in order: every event once, in `created` order, one at a time (per
 *   stream of customers, see REFERENCE_STREAMS);
 * - chaos: the same events shuffled, about 30% delivered more than once,
 *   8 in flight at a time, each non-2xx answer re-posted later (as Stripe
 *   retries), with entitlement reads through the caches in between.
 * Then, per customer: the entitlements computed from MongoDB, the
 * entitlements served by ListEntitlements (through the caches), the stored
 * state of each subscription and purchase, and the receipts must all agree,
 * and each event must have been applied by exactly one delivery.
 *
 * Seeds: a random root seed per run, printed with every failure; rerun with
 * DELIVERY_ORDER_SEED=<root seed> for the same histories and the same
 * delivery order (the timing of concurrent requests cannot be replayed).
 *
 * Two focused tests follow: one event posted 20 times at once, and the
 * smallest racing history (created and deleted of a new subscription at once).
 */
import { randomInt } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { type Db, MongoClient } from 'mongodb';
import type Stripe from 'stripe';
import { CheckoutMode } from '../../gen/billing/v1/checkout_pb.js';
import { isNewerVersion, type VersionStamp } from '../../src/domain/subscription-versions.js';
import {
  type BillingHarness,
  startBillingHarness,
  type WebhookAnswer,
} from '../helpers/billing-harness.js';
import { forEachLimit } from '../helpers/chaos.js';
import {
  type ComparableSet,
  canonical,
  comparableMessages,
  comparableSet,
  differences,
  isRecord,
} from '../helpers/comparable.js';
import { lastOf, Rng, type SubStatus, subscriptionTransitions } from '../helpers/random.js';
import { testMongoUrl } from '../helpers/services.js';
import {
  makeCharge,
  makeCheckoutSession,
  makeEvent,
  makeInvoice,
  makeSubscription,
  nowSeconds,
  type SubscriptionItemSpec,
} from '../helpers/stripe-objects.js';
import { isWaitTimeoutError, pause, waitFor } from '../helpers/wait.js';

const DAY = 86_400;
/** Project pairs (one test each) and customers (cases) per pair. */
const PAIRS = 4;
const CUSTOMERS_PER_PAIR = 50;
const CHAOS_IN_FLIGHT = 8;
/**
 * The in-order run delivers one event at a time per stream; customers share
 * no Stripe object, so dealing them out to a few streams keeps every
 * object's events once and in order.
 */
const REFERENCE_STREAMS = 2;
const DUPLICATE_RATE = 0.3;
/** Parallel setup calls (customer links, fake checkout sessions). */
const SETUP_CONCURRENCY = 8;
const MAX_ATTEMPTS = 100;

const rootSeed =
  process.env.DELIVERY_ORDER_SEED === undefined || process.env.DELIVERY_ORDER_SEED === ''
    ? randomInt(2 ** 31)
    : Number(process.env.DELIVERY_ORDER_SEED);

let mongo: MongoClient;
/** All timestamps of the histories hang off this time, far from any boundary the tests check. */
let base: number;

test.before(async () => {
  mongo = new MongoClient(testMongoUrl());
  await mongo.connect();
  base = nowSeconds();
});

test.after.always(async () => {
  await Promise.all(closing);
  await mongo?.close();
  if (closeErrors.length > 0) throw closeErrors[0];
});

interface Service {
  readonly h: BillingHarness;
  readonly db: Db;
}

/** Services being shut down in the background; the after hook waits for them. */
const closing: Promise<void>[] = [];
const closeErrors: unknown[] = [];

/**
 * Services of their own (each with its own database and fake Stripe), one
 * per run: FerretDB's cost per write grows with the size of the collection,
 * so small databases keep the runs fast. Afterwards they are closed and their
 * databases dropped in the background: a graceful stop idles for seconds
 * (measured: about 4 s, waiting for the clients' keep-alive sockets), and
 * the next test need not wait for that.
 */
async function withServices<T>(count: number, fn: (services: Service[]) => Promise<T>): Promise<T> {
  const harnesses = await Promise.all(Array.from({ length: count }, () => startBillingHarness()));
  const services = harnesses.map((h) => ({ h, db: mongo.db(h.server.config.mongodbDatabase) }));
  try {
    return await fn(services);
  } finally {
    closing.push(
      ...services.map(async ({ h, db }) => {
        try {
          await h.close();
          await db.dropDatabase().catch(() => undefined);
        } catch (err) {
          closeErrors.push(err);
        }
      }),
    );
  }
}

/** A seed per test, derived from the root seed. */
function seedFor(index: number): number {
  return (rootSeed + Math.imul(index + 1, 0x9e3779b9)) >>> 0;
}

// --- Histories, independent of any project ---

/** What one event shows of a subscription. */
interface SubState {
  readonly status: SubStatus;
  readonly quantity: number;
  /** A second item whose product (prod_api) gives api_calls. */
  readonly withApi: boolean;
  /** 0: the previous period (ended a day before `base`); 1: the current one. */
  readonly period: 0 | 1;
  readonly cancelAtPeriodEnd: boolean;
  readonly trialEnd: number | null;
  readonly canceledAt: number | null;
  readonly endedAt: number | null;
}

interface SubHistory {
  readonly id: string;
  readonly created: number;
  /** In event order; the last is what Stripe holds now. */
  readonly states: readonly SubState[];
}

interface PurchaseHistory {
  readonly key: string;
  readonly quantity: number;
  /** Card: paid at completion; a delayed method: unpaid, then maybe async_payment_succeeded. */
  readonly paidAtCompletion: boolean;
  readonly completedAt: number;
}

type SubscriptionEventType =
  | 'customer.subscription.created'
  | 'customer.subscription.updated'
  | 'customer.subscription.deleted'
  | 'customer.subscription.trial_will_end';

type PurchaseEventType =
  | 'checkout.session.completed'
  | 'checkout.session.async_payment_succeeded'
  | 'checkout.session.async_payment_failed';

type Step =
  | {
      readonly kind: 'subscription';
      readonly type: SubscriptionEventType;
      readonly sub: number;
      readonly state: number;
    }
  /** Handlers that fetch the subscription's current state from Stripe. */
  | {
      readonly kind: 'invoice';
      readonly type: 'invoice.paid' | 'invoice.payment_failed';
      readonly sub: number;
    }
  | { readonly kind: 'subscription-checkout'; readonly sub: number }
  | { readonly kind: 'purchase'; readonly type: PurchaseEventType; readonly purchase: number }
  | { readonly kind: 'refund'; readonly purchase: number; readonly full: boolean };

interface HistoryEvent {
  readonly id: string;
  readonly created: number;
  readonly step: Step;
}

interface CustomerHistory {
  readonly customerId: string;
  readonly subscriptions: readonly SubHistory[];
  readonly purchases: readonly PurchaseHistory[];
  /** In `created` order: the order Stripe sent them in. */
  readonly events: readonly HistoryEvent[];
}

/** Trials that ended already (still `trialing` in the event: no access) or run on. */
function trialEnd(rng: Rng): number {
  return base + rng.pick([-2, 5, 12]) * DAY;
}

function nextState(rng: Rng, prev: SubState, at: number): SubState {
  const status = rng.chance(0.5) ? rng.pick(subscriptionTransitions[prev.status]) : prev.status;
  const quantity = rng.chance(0.3) ? rng.int(1, 8) : prev.quantity;
  const withApi = rng.chance(0.15) ? !prev.withApi : prev.withApi;
  const period = prev.period === 0 && rng.chance(0.25) ? 1 : prev.period;
  if (status === 'canceled') {
    return {
      ...prev,
      status,
      quantity,
      withApi,
      period,
      canceledAt: prev.canceledAt ?? at,
      endedAt: at,
    };
  }
  const cancelAtPeriodEnd = rng.chance(0.3) ? !prev.cancelAtPeriodEnd : prev.cancelAtPeriodEnd;
  return {
    status,
    quantity,
    withApi,
    period,
    cancelAtPeriodEnd,
    trialEnd: status === 'trialing' && prev.trialEnd === null ? trialEnd(rng) : prev.trialEnd,
    canceledAt: cancelAtPeriodEnd ? (prev.cancelAtPeriodEnd ? prev.canceledAt : at) : null,
    endedAt: null,
  };
}

/**
 * created, then updates, maybe deleted; invoices and a subscription-mode
 * checkout in between. Every event of the subscription has its own second
 * (ties need Stripe's help and are tested elsewhere).
 */
function generateSubscription(
  rng: Rng,
  id: string,
  sub: number,
  newEventId: () => string,
): { history: SubHistory; events: HistoryEvent[] } {
  let t = base - 3 * DAY + rng.int(0, DAY);
  const created = t;
  const tick = (): number => {
    t += rng.int(1, 900);
    return t;
  };
  const status = rng.pick(['active', 'active', 'trialing', 'incomplete'] as const);
  const states: SubState[] = [
    {
      status,
      quantity: rng.int(1, 5),
      withApi: rng.chance(0.3),
      period: rng.pick([0, 1] as const),
      cancelAtPeriodEnd: false,
      trialEnd: status === 'trialing' ? trialEnd(rng) : null,
      canceledAt: null,
      endedAt: null,
    },
  ];
  const events: HistoryEvent[] = [
    {
      id: newEventId(),
      created,
      step: { kind: 'subscription', type: 'customer.subscription.created', sub, state: 0 },
    },
  ];
  if (rng.chance(0.3)) {
    events.push({
      id: newEventId(),
      created: tick(),
      step: { kind: 'subscription-checkout', sub },
    });
  }
  const updates = rng.int(0, 4);
  for (let i = 0; i < updates && lastOf(states).status !== 'canceled'; i += 1) {
    const at = tick();
    states.push(nextState(rng, lastOf(states), at));
    events.push({
      id: newEventId(),
      created: at,
      step: {
        kind: 'subscription',
        type: 'customer.subscription.updated',
        sub,
        state: states.length - 1,
      },
    });
    if (rng.chance(0.2)) {
      events.push({
        id: newEventId(),
        created: tick(),
        step: { kind: 'invoice', type: rng.pick(['invoice.paid', 'invoice.payment_failed']), sub },
      });
    }
    if (rng.chance(0.05)) {
      events.push({
        id: newEventId(),
        created: tick(),
        step: {
          kind: 'subscription',
          type: 'customer.subscription.trial_will_end',
          sub,
          state: states.length - 1,
        },
      });
    }
  }
  const last = lastOf(states);
  if (rng.chance(last.status === 'canceled' ? 0.8 : 0.3)) {
    const at = tick();
    states.push({
      ...last,
      status: 'canceled',
      canceledAt: last.canceledAt ?? at,
      endedAt: last.endedAt ?? at,
    });
    events.push({
      id: newEventId(),
      created: at,
      step: {
        kind: 'subscription',
        type: 'customer.subscription.deleted',
        sub,
        state: states.length - 1,
      },
    });
  }
  return { history: { id, created, states }, events };
}

function generatePurchase(
  rng: Rng,
  key: string,
  purchase: number,
  newEventId: () => string,
): { history: PurchaseHistory; events: HistoryEvent[] } {
  let t = base - 3 * DAY + rng.int(0, DAY);
  const completedAt = t;
  const tick = (): number => {
    t += rng.int(1, 900);
    return t;
  };
  const paidAtCompletion = rng.chance(0.6);
  const events: HistoryEvent[] = [
    {
      id: newEventId(),
      created: completedAt,
      step: { kind: 'purchase', type: 'checkout.session.completed', purchase },
    },
  ];
  let paid = paidAtCompletion;
  if (!paid) {
    const outcome = rng.float();
    if (outcome < 0.6) {
      paid = true;
      events.push({
        id: newEventId(),
        created: tick(),
        step: { kind: 'purchase', type: 'checkout.session.async_payment_succeeded', purchase },
      });
    } else if (outcome < 0.8) {
      events.push({
        id: newEventId(),
        created: tick(),
        step: { kind: 'purchase', type: 'checkout.session.async_payment_failed', purchase },
      });
    }
  }
  if (paid && rng.chance(0.15)) {
    events.push({
      id: newEventId(),
      created: tick(),
      step: { kind: 'refund', purchase, full: false },
    });
  }
  if (paid && rng.chance(0.35)) {
    events.push({
      id: newEventId(),
      created: tick(),
      step: { kind: 'refund', purchase, full: true },
    });
  }
  return {
    history: { key, quantity: rng.int(1, 3), paidAtCompletion, completedAt },
    events,
  };
}

function generateCustomer(rng: Rng, caseId: string): CustomerHistory {
  let counter = 0;
  const newEventId = (): string => {
    counter += 1;
    return `evt_${caseId}_${counter}`;
  };
  let subscriptionCount = rng.pick([0, 1, 1, 1, 2]);
  const purchaseCount = rng.pick([0, 0, 1, 1, 2]);
  if (subscriptionCount + purchaseCount === 0) subscriptionCount = 1;
  const subscriptions: SubHistory[] = [];
  const purchases: PurchaseHistory[] = [];
  const events: HistoryEvent[] = [];
  for (let i = 0; i < subscriptionCount; i += 1) {
    const generated = generateSubscription(rng, `sub_${caseId}_${i}`, i, newEventId);
    subscriptions.push(generated.history);
    events.push(...generated.events);
  }
  for (let i = 0; i < purchaseCount; i += 1) {
    const generated = generatePurchase(rng, `${caseId}_p${i}`, i, newEventId);
    purchases.push(generated.history);
    events.push(...generated.events);
  }
  // Stable: events of the same second keep their generation order.
  events.sort((a, b) => a.created - b.created);
  return { customerId: `cust_${caseId}`, subscriptions, purchases, events };
}

function generateHistories(seed: number, count: number): CustomerHistory[] {
  const rng = new Rng(seed);
  const tag = seed.toString(36);
  return Array.from({ length: count }, (_, i) => generateCustomer(rng, `${tag}x${i}`));
}

/** One line per event, for failure reports. */
function describeHistory(history: CustomerHistory): string {
  const lines = [`customer ${history.customerId}`];
  for (const event of history.events) {
    const step = event.step;
    let what: string;
    switch (step.kind) {
      case 'subscription': {
        const sub = history.subscriptions[step.sub];
        what = `${step.type} ${sub?.id} ${JSON.stringify(sub?.states[step.state])}`;
        break;
      }
      case 'invoice':
        what = `${step.type} (refetch) ${history.subscriptions[step.sub]?.id}`;
        break;
      case 'subscription-checkout':
        what = `checkout.session.completed [subscription] (refetch) ${history.subscriptions[step.sub]?.id}`;
        break;
      case 'purchase':
        what = `${step.type} ${JSON.stringify(history.purchases[step.purchase])}`;
        break;
      case 'refund':
        what = `charge.refunded ${history.purchases[step.purchase]?.key} full=${step.full}`;
        break;
    }
    lines.push(`  ${event.created - base} ${event.id} ${what}`);
  }
  return lines.join('\n');
}

// --- One history in one project: Stripe objects and signed events ---

interface ProjectRun {
  readonly h: BillingHarness;
  readonly db: Db;
  /** Per customer, the events in Stripe's order. */
  readonly events: Map<string, Stripe.Event[]>;
  /** Project-specific Stripe ids (customers, sessions, payment intents) to logical names. */
  readonly aliases: Map<string, string>;
}

function period(state: SubState): { start: number; end: number } {
  return state.period === 0
    ? { start: base - 31 * DAY, end: base - DAY }
    : { start: base - DAY, end: base + 29 * DAY };
}

function subscriptionObject(
  sub: SubHistory,
  state: SubState,
  stripeCustomer: string,
): Stripe.Subscription {
  const { start, end } = period(state);
  const items: SubscriptionItemSpec[] = [
    {
      id: `si_${sub.id}_pro`,
      price: 'price_pro_monthly',
      product: 'prod_pro',
      quantity: state.quantity,
      created: sub.created,
      current_period_start: start,
      current_period_end: end,
    },
  ];
  if (state.withApi) {
    items.push({
      id: `si_${sub.id}_api`,
      price: 'price_api_monthly',
      product: 'prod_api',
      unit_amount: 5000,
      quantity: 1,
      created: sub.created,
      current_period_start: start,
      current_period_end: end,
    });
  }
  return makeSubscription({
    id: sub.id,
    customer: stripeCustomer,
    status: state.status,
    created: sub.created,
    current_period_start: start,
    items,
    cancel_at_period_end: state.cancelAtPeriodEnd,
    cancel_at: state.cancelAtPeriodEnd ? end : null,
    canceled_at: state.canceledAt,
    ended_at: state.endedAt,
    trial_start: state.trialEnd === null ? null : sub.created,
    trial_end: state.trialEnd,
    latest_invoice: null,
  });
}

/**
 * Links every customer (CreateCheckoutSession, as products do), creates and
 * completes the purchases' sessions in the project's fake Stripe account,
 * stores each subscription's current state there, and builds the events.
 */
async function materialize(
  h: BillingHarness,
  db: Db,
  histories: readonly CustomerHistory[],
): Promise<ProjectRun> {
  const apiKey = h.project.stripeSecretKey;
  const stripe = h.fake.makeClient(apiKey);
  const events = new Map<string, Stripe.Event[]>();
  const aliases = new Map<string, string>();
  await forEachLimit(histories, SETUP_CONCURRENCY, async (history) => {
    const { customerId } = history;
    const linked = await h.checkout.createCheckoutSession(
      {
        customerId,
        mode: CheckoutMode.SUBSCRIPTION,
        lineItems: [{ priceId: 'price_pro_monthly', quantity: 1n }],
        successUrl: 'https://app.example/ok',
        cancelUrl: 'https://app.example/cancel',
      },
      h.auth,
    );
    const stripeCustomer = linked.stripeCustomerId;
    aliases.set(stripeCustomer, `customer:${customerId}`);

    const sessions: Stripe.Checkout.Session[] = [];
    for (const purchase of history.purchases) {
      const open = await stripe.checkout.sessions.create({
        mode: 'payment',
        customer: stripeCustomer,
        client_reference_id: customerId,
        line_items: [{ price: 'price_lifetime', quantity: purchase.quantity }],
        success_url: 'https://app.example/ok',
      });
      const { session } = h.fake.completeCheckoutSession(open.id, {
        apiKey,
        payment_status: purchase.paidAtCompletion ? 'paid' : 'unpaid',
        now: purchase.completedAt,
      });
      aliases.set(session.id, `session:${purchase.key}`);
      if (typeof session.payment_intent === 'string') {
        aliases.set(session.payment_intent, `payment_intent:${purchase.key}`);
      }
      sessions.push(session);
    }

    const snapshots = history.subscriptions.map((sub) =>
      sub.states.map((state) => subscriptionObject(sub, state, stripeCustomer)),
    );
    // What Stripe answers when a handler asks: the subscription as it is now.
    for (const objects of snapshots) h.fake.setSubscription(lastOf(objects), apiKey);

    const subscriptionAt = (sub: number, state: number): Stripe.Subscription => {
      const object = snapshots[sub]?.[state];
      if (!object) throw new Error(`no state ${state} of subscription ${sub}`);
      return object;
    };
    const subscriptionId = (sub: number): string => {
      const found = history.subscriptions[sub];
      if (!found) throw new Error(`no subscription ${sub}`);
      return found.id;
    };
    const sessionOf = (purchase: number): Stripe.Checkout.Session => {
      const session = sessions[purchase];
      if (!session) throw new Error(`no session for purchase ${purchase}`);
      return session;
    };

    const built = history.events.map((event): Stripe.Event => {
      const { id, created, step } = event;
      switch (step.kind) {
        case 'subscription': {
          const object = subscriptionAt(step.sub, step.state);
          switch (step.type) {
            case 'customer.subscription.created':
              return makeEvent({ id, created, type: step.type, object });
            case 'customer.subscription.updated':
              return makeEvent({ id, created, type: step.type, object });
            case 'customer.subscription.deleted':
              return makeEvent({ id, created, type: step.type, object });
            case 'customer.subscription.trial_will_end':
              return makeEvent({ id, created, type: step.type, object });
          }
          throw new Error('unreachable');
        }
        case 'invoice':
          return makeEvent({
            id,
            created,
            type: step.type,
            object: makeInvoice({
              id: `in_${id}`,
              customer: stripeCustomer,
              subscription: subscriptionId(step.sub),
              status: step.type === 'invoice.paid' ? 'paid' : 'open',
              created,
            }),
          });
        case 'subscription-checkout':
          return makeEvent({
            id,
            created,
            type: 'checkout.session.completed',
            object: makeCheckoutSession({
              id: `cs_test_${id}`,
              mode: 'subscription',
              status: 'complete',
              payment_status: 'paid',
              customer: stripeCustomer,
              client_reference_id: customerId,
              subscription: subscriptionId(step.sub),
              created: created - 60,
            }),
          });
        case 'purchase': {
          const session = sessionOf(step.purchase);
          switch (step.type) {
            case 'checkout.session.completed':
              return makeEvent({ id, created, type: step.type, object: session });
            case 'checkout.session.async_payment_succeeded':
              return makeEvent({
                id,
                created,
                type: step.type,
                object: { ...session, payment_status: 'paid' },
              });
            case 'checkout.session.async_payment_failed':
              return makeEvent({
                id,
                created,
                type: step.type,
                object: { ...session, payment_status: 'unpaid' },
              });
          }
          throw new Error('unreachable');
        }
        case 'refund': {
          const session = sessionOf(step.purchase);
          const amount = session.amount_total ?? 9900;
          return makeEvent({
            id,
            created,
            type: 'charge.refunded',
            object: makeCharge({
              id: `ch_${history.purchases[step.purchase]?.key}`,
              amount,
              amount_refunded: step.full ? amount : Math.floor(amount / 3),
              refunded: step.full,
              payment_intent:
                typeof session.payment_intent === 'string' ? session.payment_intent : null,
              customer: stripeCustomer,
              created,
            }),
          });
        }
      }
      throw new Error('unreachable');
    });
    events.set(customerId, built);
  });
  return { h, db, events, aliases };
}

// --- Delivery ---

interface DeliveryStats {
  posts: number;
  /** Non-2xx answers by status (each one re-posted). */
  retried: Record<string, number>;
  reads: number;
}

function post(run: ProjectRun, event: Stripe.Event): Promise<WebhookAnswer> {
  return run.h.post(event);
}

function countRetry(stats: DeliveryStats, answer: WebhookAnswer): void {
  const key = String(answer.status);
  stats.retried[key] = (stats.retried[key] ?? 0) + 1;
}

/** Every event once, in `created` order, one at a time. */
async function deliverInOrder(
  run: ProjectRun,
  histories: readonly CustomerHistory[],
  stats: DeliveryStats,
): Promise<void> {
  const streams = Array.from({ length: REFERENCE_STREAMS }, (_, stream) => {
    const events = histories
      .filter((_, i) => i % REFERENCE_STREAMS === stream)
      .flatMap((history) => run.events.get(history.customerId) ?? []);
    // Stable: a customer's events of the same second keep Stripe's order.
    return events.sort((a, b) => a.created - b.created);
  });
  await Promise.all(streams.map((events) => deliverOneByOne(run, events, stats)));
}

async function deliverOneByOne(
  run: ProjectRun,
  events: readonly Stripe.Event[],
  stats: DeliveryStats,
): Promise<void> {
  for (const event of events) {
    for (let attempt = 1; ; attempt += 1) {
      stats.posts += 1;
      const answer = await post(run, event);
      if (answer.status >= 200 && answer.status < 300) {
        if (answer.body.outcome !== 'processed' && answer.body.outcome !== 'ignored') {
          throw new Error(`in-order delivery of ${event.id}: outcome ${answer.body.outcome}`);
        }
        break;
      }
      countRetry(stats, answer);
      if (attempt >= MAX_ATTEMPTS) {
        throw new Error(`${event.id} (${event.type}): ${answer.status} ${answer.body.error}`);
      }
      await pause(10);
    }
  }
}

interface Delivery {
  readonly event: Stripe.Event;
  readonly customerId: string;
  attempts: number;
}

/**
 * Shuffled, duplicated, CHAOS_IN_FLIGHT at a time; a non-2xx answer puts the
 * delivery back at a random place in the queue (Stripe retries later, out of
 * order). Now and then a worker reads the customer's entitlements through
 * the RPC, which fills the caches mid-stream. Returns, per event id, the
 * outcomes of its 2xx answers.
 */
async function deliverInChaos(
  run: ProjectRun,
  histories: readonly CustomerHistory[],
  rng: Rng,
  stats: DeliveryStats,
): Promise<Map<string, string[]>> {
  const deliveries: Delivery[] = [];
  for (const history of histories) {
    for (const event of run.events.get(history.customerId) ?? []) {
      const copies = 1 + (rng.chance(DUPLICATE_RATE) ? (rng.chance(0.25) ? 2 : 1) : 0);
      for (let i = 0; i < copies; i += 1) {
        deliveries.push({ event, customerId: history.customerId, attempts: 0 });
      }
    }
  }
  const queue = rng.shuffle(deliveries);
  const outcomes = new Map<string, string[]>();
  let inFlight = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const delivery = queue.shift();
      if (delivery === undefined) {
        if (inFlight === 0) return;
        await pause(5);
        continue;
      }
      inFlight += 1;
      try {
        delivery.attempts += 1;
        stats.posts += 1;
        const answer = await post(run, delivery.event);
        if (answer.status >= 200 && answer.status < 300) {
          const list = outcomes.get(delivery.event.id) ?? [];
          list.push(answer.body.outcome ?? '(none)');
          outcomes.set(delivery.event.id, list);
          if (rng.chance(0.1)) {
            stats.reads += 1;
            await run.h.entitlements.listEntitlements(
              { customerId: delivery.customerId },
              run.h.auth,
            );
          }
        } else {
          countRetry(stats, answer);
          if (delivery.attempts >= MAX_ATTEMPTS) {
            throw new Error(
              `${delivery.event.id} (${delivery.event.type}): ${answer.status} ${answer.body.error}`,
            );
          }
          await pause(rng.int(1, 20));
          queue.splice(rng.int(0, queue.length), 0, delivery);
        }
      } finally {
        inFlight -= 1;
      }
    }
  };
  await Promise.all(Array.from({ length: CHAOS_IN_FLIGHT }, worker));
  return outcomes;
}

// --- Comparable state, with project-specific ids replaced by logical names ---

const alias = (aliases: ReadonlyMap<string, string>, id: string | null): string | null =>
  id === null ? null : (aliases.get(id) ?? id);

async function computedSets(
  run: ProjectRun,
  histories: readonly CustomerHistory[],
): Promise<Map<string, ComparableSet>> {
  const out = new Map<string, ComparableSet>();
  await forEachLimit(histories, SETUP_CONCURRENCY, async ({ customerId }) => {
    const set = await run.h.server.app.entitlements.compute(run.h.project.projectId, customerId);
    out.set(
      customerId,
      comparableSet(set, (id) => alias(run.aliases, id) ?? ''),
    );
  });
  return out;
}

async function servedSets(
  run: ProjectRun,
  histories: readonly CustomerHistory[],
): Promise<Map<string, ComparableSet>> {
  const out = new Map<string, ComparableSet>();
  await forEachLimit(histories, SETUP_CONCURRENCY, async ({ customerId }) => {
    const response = await run.h.entitlements.listEntitlements({ customerId }, run.h.auth);
    out.set(
      customerId,
      comparableMessages(response, (id) => alias(run.aliases, id) ?? ''),
    );
  });
  return out;
}

// Stored documents are read raw and compared by meaning, so that the comparison holds whether
// a subscription is one document updated in place or insert-only versions (the newest wins),
// and whether a purchase is one document or several facts.

type RawDoc = Record<string, unknown>;

async function projectDocs(db: Db, collection: string, projectId: string): Promise<RawDoc[]> {
  const docs: RawDoc[] = await db.collection(collection).find({ project_id: projectId }).toArray();
  return docs;
}

function receipts(run: ProjectRun): Promise<RawDoc[]> {
  return projectDocs(run.db, 'event_receipts', run.h.project.projectId);
}

/** What orders a raw stored version (the rule itself: domain/subscription-versions.ts). */
function versionStamp(doc: RawDoc): VersionStamp {
  return {
    eventCreated: Number(doc.event_created),
    fetchedFromStripe: doc.fetched_from_stripe === true,
  };
}

/** The current state of each subscription of a project: its newest stored version. */
async function currentSubscriptions(db: Db, projectId: string): Promise<Map<string, RawDoc>> {
  const newest = new Map<string, RawDoc>();
  for (const doc of await projectDocs(db, 'subscriptions', projectId)) {
    const id = String(doc.stripe_subscription_id);
    const seen = newest.get(id);
    if (!seen || isNewerVersion(versionStamp(doc), versionStamp(seen))) newest.set(id, doc);
  }
  return newest;
}

/**
 * A document without what is specific to the project or to the moment it was
 * written, with project-specific Stripe ids replaced by their logical names.
 */
function comparableDoc(
  doc: RawDoc,
  aliases: ReadonlyMap<string, string>,
  dropped: readonly string[],
): RawDoc {
  const out: RawDoc = {};
  for (const [key, value] of Object.entries(doc)) {
    if (!dropped.includes(key)) out[key] = aliased(value, aliases);
  }
  return out;
}

function aliased(value: unknown, aliases: ReadonlyMap<string, string>): unknown {
  if (typeof value === 'string') return aliases.get(value) ?? value;
  if (Array.isArray(value)) return value.map((item) => aliased(item, aliases));
  if (isRecord(value) && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.entries(value).map(([key, inner]) => [key, aliased(inner, aliases)]),
    );
  }
  return value;
}

/** The stored state that decides entitlements and metrics, per Stripe object. */
async function storedState(run: ProjectRun): Promise<Map<string, unknown>> {
  const projectId = run.h.project.projectId;
  const out = new Map<string, unknown>();
  for (const [id, doc] of await currentSubscriptions(run.db, projectId)) {
    out.set(
      `subscription:${id}`,
      comparableDoc(doc, run.aliases, ['_id', 'project_id', 'updated_at']),
    );
  }
  // A purchase: its documents (one, or one per fact), in a canonical order. `created` is
  // when the fake account created the session, or when a fact was written: not history.
  const purchases = new Map<string, string[]>();
  for (const doc of await projectDocs(run.db, 'purchases', projectId)) {
    const key = `purchase:${alias(run.aliases, String(doc.purchase_key))}`;
    const docs = purchases.get(key) ?? [];
    docs.push(canonical(comparableDoc(doc, run.aliases, ['_id', 'project_id', 'created'])));
    purchases.set(key, docs);
  }
  for (const [key, docs] of purchases) out.set(key, docs.sort());
  return out;
}

/**
 * The served answers may trail a change by one pub/sub delivery (the
 * documented staleness of the in-process cache): poll briefly, then compare.
 */
async function settle(
  run: ProjectRun,
  histories: readonly CustomerHistory[],
  served: Map<string, ComparableSet>,
  expected: ReadonlyMap<string, ComparableSet>,
): Promise<{ served: Map<string, ComparableSet>; polls: number }> {
  const wanted = new Map(histories.map(({ customerId }) => [customerId, expected.get(customerId)]));
  let polls = 0;
  const stale = () => new Set(differences(wanted, served).map((d) => d.key));
  await waitFor(
    async () => {
      const now = stale();
      if (now.size === 0) return true;
      polls += 1;
      const again = await servedSets(
        run,
        histories.filter((history) => now.has(history.customerId)),
      );
      for (const [customerId, set] of again) served.set(customerId, set);
      return stale().size === 0;
    },
    { what: 'served sets to catch up with the stored ones', timeoutMs: 30_000 },
  ).catch((error: unknown) => {
    // The caller's comparison then names every set still different.
    if (!isWaitTimeoutError(error)) throw error;
  });
  return { served, polls };
}

// --- The property ---

interface Finding {
  readonly what: string;
  readonly customers: readonly string[];
  readonly detail: unknown;
}

async function checkPair(t: ExecutionContext, index: number): Promise<void> {
  const seed = seedFor(index);
  t.log(`root seed ${rootSeed} (rerun with DELIVERY_ORDER_SEED=${rootSeed}), pair seed ${seed}`);
  const histories = generateHistories(seed, CUSTOMERS_PER_PAIR);
  const owners = new Map<string, string>();
  for (const history of histories) {
    for (const sub of history.subscriptions) owners.set(sub.id, history.customerId);
    for (const purchase of history.purchases) {
      owners.set(`payment_intent:${purchase.key}`, history.customerId);
      owners.set(`session:${purchase.key}`, history.customerId);
    }
  }
  const eventCount = histories.reduce((sum, history) => sum + history.events.length, 0);

  const findings = await withServices(2, async ([referenceService, chaosService]) => {
    if (!referenceService || !chaosService) throw new Error('two services expected');
    const started = Date.now();
    const [reference, chaos] = await Promise.all([
      materialize(referenceService.h, referenceService.db, histories),
      materialize(chaosService.h, chaosService.db, histories),
    ]);
    const setupDone = Date.now();

    // The two runs share nothing (own service, database and Stripe account): run them side by side.
    const referenceStats: DeliveryStats = { posts: 0, retried: {}, reads: 0 };
    const chaosStats: DeliveryStats = { posts: 0, retried: {}, reads: 0 };
    const timed = async <T>(run: () => Promise<T>): Promise<[T, number]> => {
      const start = Date.now();
      const result = await run();
      return [result, Date.now() - start];
    };
    const [[, referenceMs], [outcomes, chaosMs]] = await Promise.all([
      timed(() => deliverInOrder(reference, histories, referenceStats)),
      timed(() => deliverInChaos(chaos, histories, new Rng(seed ^ 0x5bd1e995), chaosStats)),
    ]);
    const deliveredAt = Date.now();
    t.log(
      `${histories.length} histories, ${eventCount} events; in order: ${referenceStats.posts} ` +
        `posts in ${referenceMs} ms (retried ${JSON.stringify(referenceStats.retried)}); ` +
        `chaos: ${chaosStats.posts} posts in ${chaosMs} ms (retried ` +
        `${JSON.stringify(chaosStats.retried)}, ${chaosStats.reads} cached reads); ` +
        `setup ${setupDone - started} ms`,
    );

    const found: Finding[] = [];
    const note = (what: string, customers: Iterable<string>, detail: unknown) =>
      found.push({ what, customers: [...new Set(customers)], detail });

    // Exactly once: per event, one 2xx answer applied it; every other 2xx was a duplicate.
    const notOnce = histories.flatMap((history) =>
      history.events.flatMap((event) => {
        const answers = outcomes.get(event.id) ?? [];
        const applied = answers.filter((o) => o === 'processed' || o === 'ignored').length;
        const others = answers.filter(
          (o) => o !== 'processed' && o !== 'ignored' && o !== 'duplicate',
        );
        return applied === 1 && others.length === 0
          ? []
          : [{ customer: history.customerId, event: event.id, answers }];
      }),
    );
    if (notOnce.length > 0) {
      note(
        'chaos run: an event not applied exactly once',
        notOnce.map((n) => n.customer),
        notOnce,
      );
    }

    const runs = [
      ['in-order', reference],
      ['chaos', chaos],
    ] as const;
    const [referenceReceipts, chaosReceipts] = await Promise.all(
      runs.map(([, run]) => receipts(run)),
    );
    for (const [name, stored] of [
      ['in-order', referenceReceipts],
      ['chaos', chaosReceipts],
    ] as const) {
      const unfinished = (stored ?? []).filter(
        (r) => r.status !== 'processed' && r.status !== 'ignored',
      );
      if (stored?.length !== eventCount || unfinished.length > 0) {
        note(`${name} run: receipts`, [], {
          receipts: stored?.length,
          events: eventCount,
          unfinished,
        });
      }
    }

    // The in-order run read nothing through the caches while it ran, so its served answers
    // are checked on a sample; the chaos run's, read all along, are checked in full.
    const referenceSample = histories.filter((_, i) => i % 5 === 0);
    const [expected, computed, referenceStored, chaosStored, referenceServed, chaosServed] =
      await Promise.all([
        computedSets(reference, histories),
        computedSets(chaos, histories),
        storedState(reference),
        storedState(chaos),
        servedSets(reference, referenceSample),
        servedSets(chaos, histories),
      ]);
    const computedDiff = differences(expected, computed);
    if (computedDiff.length > 0) {
      note(
        'computed entitlements: chaos run differs from in-order run',
        computedDiff.map((d) => d.key),
        computedDiff,
      );
    }
    const storedDiff = differences(referenceStored, chaosStored);
    if (storedDiff.length > 0) {
      note(
        'stored subscriptions and purchases: chaos run differs from in-order run',
        storedDiff.map((d) => owners.get(d.key.slice(d.key.indexOf(':') + 1)) ?? d.key),
        storedDiff,
      );
    }
    const storedAt = Date.now();
    const served = await Promise.all([
      settle(reference, referenceSample, referenceServed, expected),
      settle(chaos, histories, chaosServed, expected),
    ]);
    runs.forEach(([name], i) => {
      const sample = name === 'in-order' ? referenceSample : histories;
      const wanted = new Map(
        sample.map(({ customerId }) => [customerId, expected.get(customerId)]),
      );
      const servedDiff = differences(wanted, served[i]?.served ?? new Map());
      if (servedDiff.length > 0) {
        note(
          `ListEntitlements (${name} run) differs from the in-order computed entitlements`,
          servedDiff.map((d) => d.key),
          servedDiff,
        );
      }
    });
    t.log(
      `checks ${Date.now() - deliveredAt} ms (${storedAt - deliveredAt} ms before settling, ` +
        `served after ${served.map((s) => s?.polls).join(' and ')} polls)`,
    );

    // Not vacuous: the histories reach both answers.
    const withAccess = [...expected.values()].filter((set) => set.entitlements.length > 0);
    t.log(`${withAccess.length} of ${histories.length} customers end with some entitlement`);
    t.true(withAccess.length > 0 && withAccess.length < histories.length);
    return found;
  });

  const byCustomer = new Map(histories.map((history) => [history.customerId, history]));
  for (const finding of findings) {
    t.log(`${finding.what}: ${finding.customers.length} customers`);
    t.log(JSON.stringify(finding.detail, null, 1).slice(0, 6000));
    for (const customer of finding.customers.slice(0, 2)) {
      const history = byCustomer.get(customer);
      if (history) t.log(describeHistory(history));
    }
  }
  t.deepEqual(
    findings.map((f) => ({ what: f.what, detail: f.detail })),
    [],
    `seed ${seed} (root ${rootSeed})`,
  );
}

for (let index = 0; index < PAIRS; index += 1) {
  test.serial(
    `any order, any number of times, concurrently = once in order (${CUSTOMERS_PER_PAIR} histories, pair ${index + 1})`,
    (t) => checkPair(t, index),
  );
}

// --- One event, many deliveries at once ---

test.serial('the same event posted 20 times at once is applied exactly once', async (t) => {
  await withServices(1, async ([service]) => {
    if (!service) throw new Error('a service expected');
    const { h, db } = service;
    const customer = await h.linkCustomer('concurrent-dup');
    const start = base - DAY;
    const subscription = makeSubscription({
      id: 'sub_concurrent_dup',
      customer,
      status: 'active',
      created: start,
      items: [
        {
          id: 'si_concurrent_dup',
          price: 'price_pro_monthly',
          product: 'prod_pro',
          quantity: 4,
          current_period_start: start,
          current_period_end: start + 30 * DAY,
        },
      ],
    });
    h.fake.setSubscription(subscription, h.project.stripeSecretKey);
    const event = makeEvent({
      type: 'customer.subscription.updated',
      object: subscription,
      created: base - 60,
      previous_attributes: { status: 'trialing' },
    });

    const first = await Promise.all(Array.from({ length: 20 }, () => h.post(event)));
    t.deepEqual(
      first.filter((answer) => answer.status !== 200 && answer.status !== 409),
      [],
      'only 200 or 409 (busy)',
    );
    // A busy answer is retried, as Stripe would; the retry finds the event done.
    const retried: WebhookAnswer[] = [];
    for (const _busy of first.filter((a) => a.status === 409)) {
      retried.push(
        await waitFor(() => h.post(event), {
          what: `a retry of ${event.id} not answered busy`,
          until: (retry) => retry.status !== 409,
        }),
      );
    }
    const finals = [...first.filter((a) => a.status === 200), ...retried];
    t.log(`${retried.length} of 20 answered 409 (busy) first`);
    t.is(finals.length, 20);
    t.true(
      finals.every((answer) => answer.status === 200),
      'every delivery ends in a 2xx',
    );
    t.is(finals.filter((answer) => answer.body.outcome === 'processed').length, 1);
    t.is(finals.filter((answer) => answer.body.outcome === 'duplicate').length, 19);
    t.true(
      retried.every((answer) => answer.body.outcome === 'duplicate'),
      'a busy delivery, retried, is a duplicate',
    );

    const stored = (await projectDocs(db, 'event_receipts', h.project.projectId)).filter(
      (receipt) => receipt.event_id === event.id,
    );
    t.is(stored.length, 1);
    t.is(stored[0]?.status, 'processed');
    t.is(stored[0]?.attempts, 1);

    const seats = await h.entitlements.checkEntitlement(
      { customerId: 'concurrent-dup', feature: 'seats' },
      h.auth,
    );
    t.is(seats.entitlement?.limit, 4n);
  });
});

// --- The smallest history the property needs: two events of a new subscription at once ---

test.serial(
  'created and deleted of a new subscription, delivered at once, end deleted',
  async (t) => {
    await withServices(1, async ([service]) => {
      if (!service) throw new Error('a service expected');
      const { h, db } = service;
      const customer = await h.linkCustomer('created-deleted');
      const created = base - 3600;
      const wrong: {
        round: number;
        status: unknown;
        eventCreated: unknown;
      }[] = [];
      const rounds = 20;
      for (let round = 0; round < rounds; round += 1) {
        const id = `sub_created_deleted_${round}`;
        const spec = {
          id,
          customer,
          created,
          items: [
            {
              id: `si_created_deleted_${round}`,
              price: 'price_pro_monthly',
              product: 'prod_pro',
              created,
              current_period_start: created,
              current_period_end: created + 30 * DAY,
            },
          ],
        } as const;
        const active = makeSubscription({ ...spec, status: 'active' });
        const deleted = makeSubscription({
          ...spec,
          status: 'canceled',
          canceled_at: created + 10,
          ended_at: created + 10,
        });
        h.fake.setSubscription(deleted, h.project.stripeSecretKey);
        const answers = await Promise.all([
          h.post(makeEvent({ type: 'customer.subscription.created', object: active, created })),
          h.post(
            makeEvent({
              type: 'customer.subscription.deleted',
              object: deleted,
              created: created + 10,
            }),
          ),
        ]);
        t.deepEqual(
          answers.map((answer) => answer.status),
          [200, 200],
        );
        const stored = (await currentSubscriptions(db, h.project.projectId)).get(id);
        if (stored?.status !== 'canceled' || stored.event_created !== created + 10) {
          wrong.push({ round, status: stored?.status, eventCreated: stored?.event_created });
        }
      }
      t.deepEqual(wrong, [], `the newer event lost in ${wrong.length} of ${rounds} rounds`);
      const set = await h.server.app.entitlements.compute(h.project.projectId, 'created-deleted');
      t.deepEqual(
        set.entitlements.map((e) => e.feature),
        [],
      );
    });
  },
);
