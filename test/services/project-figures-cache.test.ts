/**
 * The per-replica figures kept from change notifications: two replicas on
 * one fake bus and one fake store answer what a computation from scratch
 * answers after any sequence of stored versions; re-reads that finish out
 * of order, changes told while a build runs, a failed re-read and a Redis
 * reconnect never leave wrong figures behind.
 */
import test from 'ava';
import type { InvalidationMessage } from '../../src/cache/invalidation-bus.js';
import { computeProjectMetrics, type MetricsWindow } from '../../src/domain/mrr.js';
import { isNewerVersion } from '../../src/domain/subscription-versions.js';
import { createLogger } from '../../src/logger.js';
import {
  type FiguresSource,
  metricsSubscription,
  ProjectFiguresCache,
} from '../../src/services/project-figures-cache.js';
import type { SubscriptionDoc } from '../../src/store/documents.js';
import { type CurrentSubscription, versionStamp } from '../../src/store/subscription-store.js';
import { Rng, seedFromEnv } from '../helpers/random.js';

const project = 'p1';
const day = 24 * 3600 * 1000;
const origin = Date.parse('2026-06-01T00:00:00Z');
const window: MetricsWindow = { start: new Date(origin - 30 * day), end: new Date(origin) };
const logger = createLogger({ level: 'error' });

/** Versions as the store holds them; reads can be held back to order their answers. */
class FakeStore implements FiguresSource {
  readonly versions: SubscriptionDoc[] = [];
  scans = 0;
  failReads = false;
  /** When set, each customer read waits for its own release. */
  holdReads = false;
  readonly held: Array<() => void> = [];
  /** When set, a scan takes its snapshot, then waits for this before answering. */
  scanGate: Promise<void> | undefined;

  async forEachVersionOfProject(
    projectId: string,
    batchSize: number,
    onBatch: (versions: readonly SubscriptionDoc[]) => void | Promise<void>,
  ): Promise<void> {
    this.scans += 1;
    const mine = this.versions.filter((v) => v.project_id === projectId);
    await this.scanGate;
    for (let i = 0; i < mine.length; i += batchSize) await onBatch(mine.slice(i, i + batchSize));
  }

  async currentByStripeCustomer(
    projectId: string,
    stripeCustomerId: string,
  ): Promise<CurrentSubscription[]> {
    if (this.failReads) throw new Error('mongodb down');
    // What the store holds when the read is made, answered when released.
    const answer = this.current().filter(
      (doc) => doc.project_id === projectId && doc.stripe_customer_id === stripeCustomerId,
    );
    if (this.holdReads) await new Promise<void>((resolve) => this.held.push(resolve));
    return answer.map((doc) => ({ doc, pastDueSince: null }));
  }

  current(): SubscriptionDoc[] {
    const newest = new Map<string, SubscriptionDoc>();
    for (const v of this.versions) {
      const seen = newest.get(v.stripe_subscription_id);
      if (!seen || isNewerVersion(versionStamp(v), versionStamp(seen)))
        newest.set(v.stripe_subscription_id, v);
    }
    return [...newest.values()];
  }

  fromScratch() {
    return computeProjectMetrics(this.current().map(metricsSubscription), window);
  }
}

/** Redis pub/sub between replicas: every handler of every replica gets every message. */
class FakeBus {
  private readonly handlers: Array<(message: InvalidationMessage) => void> = [];
  private readonly reconnects: Array<() => void> = [];

  onMessage(handler: (message: InvalidationMessage) => void): () => void {
    this.handlers.push(handler);
    return () => {};
  }

  onReconnect(handler: () => void): void {
    this.reconnects.push(handler);
  }

  async publish(message: InvalidationMessage): Promise<void> {
    for (const handler of this.handlers) handler(message);
  }

  reconnect(): void {
    for (const handler of this.reconnects) handler();
  }
}

const replica = (store: FakeStore, bus: FakeBus, now = () => 0) =>
  new ProjectFiguresCache({ source: store, bus, logger, maxAgeMs: 60_000, now });

/** Lets every read already answered reach the figures (no timer: the event loop's next turn). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function version(
  rng: Rng,
  subscription: string,
  customer: string,
  eventCreated: number,
): SubscriptionDoc {
  const status = rng.pick(['active', 'past_due', 'trialing', 'canceled', 'unpaid']);
  const ended = status === 'canceled' ? new Date(origin - rng.int(0, 40) * day) : null;
  return {
    _id: `${project}:${subscription}:${eventCreated}`,
    project_id: project,
    stripe_subscription_id: subscription,
    stripe_customer_id: customer,
    status,
    items: Array.from({ length: rng.int(1, 2) }, (_, i) => ({
      id: `si_${subscription}_${i}`,
      price_id: 'price_x',
      product_id: 'prod_x',
      quantity: rng.int(1, 3),
      current_period_start: null,
      current_period_end: null,
      unit_amount: rng.int(0, 10_000),
      currency: rng.pick(['usd', 'eur']),
      interval: rng.pick(['month', 'year', 'week']),
      interval_count: 1,
    })),
    cancel_at_period_end: false,
    cancel_at: null,
    canceled_at: ended,
    ended_at: ended,
    trial_end: null,
    currency: 'usd',
    created: new Date(origin - rng.int(0, 60) * day),
    event_created: eventCreated,
    fetched_from_stripe: false,
    updated_at: new Date(origin),
  };
}

const seed = seedFromEnv('PROJECT_FIGURES_CACHE_SEED');

test(`two replicas follow random webhooks applied on either one (seed ${seed})`, async (t) => {
  const rng = new Rng(seed);
  const store = new FakeStore();
  const bus = new FakeBus();
  const a = replica(store, bus);
  const b = replica(store, bus);
  for (let i = 0; i < 30; i += 1)
    store.versions.push(version(rng, `sub_${i}`, `cus_${i % 7}`, 1_000 + rng.int(0, 5)));
  t.deepEqual((await a.figuresOf(project)).metrics(window), store.fromScratch());
  t.deepEqual((await b.figuresOf(project)).metrics(window), store.fromScratch());
  for (let step = 0; step < 200; step += 1) {
    const n = rng.int(0, 40);
    const customer = `cus_${n % 7}`;
    // Often newer, sometimes an older event that changes nothing.
    store.versions.push(version(rng, `sub_${n}`, customer, 1_000 + rng.int(0, 10) + step));
    const writer = rng.chance(0.5) ? a : b;
    await writer.subscriptionsChanged(project, [customer]);
    // The writer shows the change as soon as it has told it.
    const expected = store.fromScratch();
    t.deepEqual((await writer.figuresOf(project)).metrics(window), expected, `step ${step}`);
    await settle();
    t.deepEqual((await a.figuresOf(project)).metrics(window), expected, `a, step ${step}`);
    t.deepEqual((await b.figuresOf(project)).metrics(window), expected, `b, step ${step}`);
  }
  // Built once each, kept current without another scan.
  t.is(store.scans, 2);
});

test('re-reads of one customer that finish out of order: the newest read wins', async (t) => {
  const rng = new Rng(1);
  const store = new FakeStore();
  const bus = new FakeBus();
  const a = replica(store, bus);
  store.versions.push(version(rng, 'sub_1', 'cus_1', 1_000));
  await a.figuresOf(project);
  store.holdReads = true;
  store.versions.push({ ...version(rng, 'sub_1', 'cus_1', 1_001), status: 'active' });
  const first = a.subscriptionsChanged(project, ['cus_1']);
  store.versions.push({ ...version(rng, 'sub_1', 'cus_1', 1_002), status: 'unpaid' });
  const second = a.subscriptionsChanged(project, ['cus_1']);
  t.is(store.held.length, 2);
  // The later read answers first, then the earlier, older one.
  store.held[1]?.();
  await second;
  store.held[0]?.();
  await first;
  t.deepEqual((await a.figuresOf(project)).metrics(window), store.fromScratch());
  t.is((await a.figuresOf(project)).metrics(window).subscriptionsByStatus[0]?.status, 'unpaid');
});

test('a change told while the figures are being built is applied once they are', async (t) => {
  const rng = new Rng(2);
  const store = new FakeStore();
  const bus = new FakeBus();
  const a = replica(store, bus);
  store.versions.push({ ...version(rng, 'sub_1', 'cus_1', 1_000), status: 'active' });
  let openGate = () => {};
  store.scanGate = new Promise<void>((resolve) => {
    openGate = resolve;
  });
  // The scan has read what it will answer; then two changes are stored and told.
  const building = a.figuresOf(project);
  await settle();
  store.versions.push({ ...version(rng, 'sub_1', 'cus_1', 1_001), status: 'past_due' });
  await a.subscriptionsChanged(project, ['cus_1']);
  store.versions.push({ ...version(rng, 'sub_2', 'cus_2', 1_000), status: 'trialing' });
  await bus.publish({
    kind: 'subscriptions',
    projectId: project,
    stripeCustomerIds: ['cus_2'],
    origin: 'another replica',
  });
  openGate();
  await building;
  await settle();
  t.deepEqual((await a.figuresOf(project)).metrics(window), store.fromScratch());
});

test('a failed re-read drops the figures; the next question rebuilds them', async (t) => {
  const rng = new Rng(3);
  const store = new FakeStore();
  const bus = new FakeBus();
  const a = replica(store, bus);
  store.versions.push(version(rng, 'sub_1', 'cus_1', 1_000));
  await a.figuresOf(project);
  store.failReads = true;
  store.versions.push({ ...version(rng, 'sub_2', 'cus_1', 1_000), status: 'active' });
  await a.subscriptionsChanged(project, ['cus_1']);
  store.failReads = false;
  t.deepEqual((await a.figuresOf(project)).metrics(window), store.fromScratch());
  t.is(store.scans, 2);
});

test('after a Redis reconnect (messages may be lost) the figures are rebuilt', async (t) => {
  const rng = new Rng(4);
  const store = new FakeStore();
  const bus = new FakeBus();
  const a = replica(store, bus);
  store.versions.push(version(rng, 'sub_1', 'cus_1', 1_000));
  await a.figuresOf(project);
  // A change whose message never arrived.
  store.versions.push({ ...version(rng, 'sub_2', 'cus_2', 1_000), status: 'active' });
  bus.reconnect();
  t.deepEqual((await a.figuresOf(project)).metrics(window), store.fromScratch());
  t.is(store.scans, 2);
});

test('a finished reconciliation and old age rebuild in the background, the old figures answering meanwhile', async (t) => {
  const rng = new Rng(5);
  const store = new FakeStore();
  const bus = new FakeBus();
  let clock = 0;
  const a = replica(store, bus, () => clock);
  const b = replica(store, bus, () => clock);
  store.versions.push({ ...version(rng, 'sub_1', 'cus_1', 1_000), status: 'active' });
  await a.figuresOf(project);
  await b.figuresOf(project);
  // Repaired without a change message (as a lost one would be).
  store.versions.push({ ...version(rng, 'sub_2', 'cus_2', 1_000), status: 'active' });
  await a.subscriptionsReconciled(project);
  await settle();
  await settle();
  t.deepEqual((await a.figuresOf(project)).metrics(window), store.fromScratch());
  t.deepEqual((await b.figuresOf(project)).metrics(window), store.fromScratch());
  t.is(store.scans, 4);
  // Older than the maximum age: the answer still comes at once, then a rebuild follows.
  store.versions.push({ ...version(rng, 'sub_3', 'cus_3', 1_000), status: 'active' });
  clock = 60_001;
  t.is((await a.figuresOf(project)).size, 2);
  await settle();
  await settle();
  t.is((await a.figuresOf(project)).size, 3);
  t.is(store.scans, 5);
});
