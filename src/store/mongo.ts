/**
 * The MongoDB connection and every collection's indexes. Indexes are created
 * at start and idempotently (createIndex is a no-op when it exists), and use
 * only what both MongoDB 7 and FerretDB 1.24 support: unique and compound
 * indexes; no TTL or partial indexes (old records are swept by jobs).
 */
import { type Db, type IndexSpecification, MongoClient, MongoServerError } from 'mongodb';

export interface MongoConnection {
  readonly client: MongoClient;
  readonly db: Db;
  /** Stops the heartbeat watchdog and closes the pool. */
  close(): Promise<void>;
}

export interface MongoConnectOptions {
  /** Told when a stuck heartbeat made the watchdog reconnect the client. */
  readonly onReconnect?: (reason: string) => void;
}

/**
 * Bounds a heartbeat: the driver's own socket timeout for one (polling mode)
 * is connectTimeoutMS. Loopback and a LAN connect in far less.
 */
const connectTimeoutMs = 5000;
const heartbeatFrequencyMs = 10_000;
/** A heartbeat still in flight after this long will never end (see HeartbeatWatchdog). */
const heartbeatStallMs = connectTimeoutMs + heartbeatFrequencyMs + 5000;

export async function connectMongo(
  url: string,
  database: string,
  options: MongoConnectOptions = {},
): Promise<MongoConnection> {
  // A short server selection timeout: when MongoDB is down, calls fail fast
  // with UNAVAILABLE instead of hanging for the driver's default 30 s.
  const client = new MongoClient(url, {
    serverSelectionTimeoutMS: 3000,
    connectTimeoutMS: connectTimeoutMs,
    heartbeatFrequencyMS: heartbeatFrequencyMs,
    appName: 'billing-service',
  });
  const watchdog = new HeartbeatWatchdog(client, heartbeatStallMs, options.onReconnect);
  await client.connect();
  watchdog.start();
  return {
    client,
    db: client.db(database),
    close: async () => {
      watchdog.stop();
      await client.close();
    },
  };
}

/**
 * Reconnects a client whose server monitor hangs for good.
 *
 * With mongodb 7.9.0, when the server closes a connection just as the
 * monitor starts a heartbeat on it, the heartbeat writes to the destroyed
 * socket and waits for a `drain` event that never comes: the server stays
 * Unknown and every operation fails server selection until the process
 * restarts (test/chaos/mongodb-restart-recovery.test.ts). A heartbeat that
 * neither succeeds nor fails within `stallMs` is such a hang; closing and
 * connecting the same client again gives it fresh monitors, and every
 * `Db` and collection taken from it keeps working.
 */
class HeartbeatWatchdog {
  private readonly inFlight = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private reconnecting = false;
  /** Closed to reconnect, and not connected again yet. */
  private closedByUs = false;

  constructor(
    private readonly client: MongoClient,
    private readonly stallMs: number,
    private readonly onReconnect: (reason: string) => void = () => undefined,
  ) {
    client.on('serverHeartbeatStarted', (event) =>
      this.inFlight.set(event.connectionId, Date.now()),
    );
    client.on('serverHeartbeatSucceeded', (event) => this.inFlight.delete(event.connectionId));
    client.on('serverHeartbeatFailed', (event) => this.inFlight.delete(event.connectionId));
  }

  start(): void {
    this.timer ??= setInterval(() => void this.check(), 1000);
    // The watchdog alone must not keep a process alive.
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async check(): Promise<void> {
    if (this.reconnecting || this.timer === undefined) return;
    const stuck = [...this.inFlight].find(([, since]) => Date.now() - since > this.stallMs);
    if (stuck === undefined && !this.closedByUs) return;
    this.reconnecting = true;
    try {
      if (stuck !== undefined) {
        this.inFlight.clear();
        this.onReconnect(`heartbeat to ${stuck[0]} stuck for over ${this.stallMs} ms`);
        this.closedByUs = true;
        await this.client.close(true);
      }
      // stop() may have come while closing: then the client stays closed.
      if (this.timer !== undefined) await this.client.connect();
      this.closedByUs = false;
    } catch {
      // The server is still away: connect again on the next check.
    } finally {
      this.reconnecting = false;
    }
  }
}

interface IndexPlan {
  readonly collection: string;
  readonly key: IndexSpecification;
  readonly name: string;
  readonly unique?: boolean;
}

const collectionNames = [
  'projects',
  'api_keys',
  'customers',
  'subscriptions',
  'purchases',
  'grants',
  // Credit grants and their revocations, insert-only (credit-grant-store.ts).
  'credit_grants',
  'event_receipts',
  'audit_log',
  'reconciliation_runs',
  'idempotency_records',
  'reconciliation_locks',
  'job_claims',
  // Usage ledger (usage-ledger-store.ts): lookups by _id, once keys unique.
  'usage_ledger',
  // Stripe meter events not yet accepted, and those done (meter-outbox-store.ts).
  'meter_outbox',
  'meter_reported',
  // Why entitlements changed, insert-only, read by _id ranges (timeline-store.ts).
  'customer_timeline',
  'project_timeline',
  'customer_timeline_heads',
  // Outbound webhooks (webhook-endpoint-store.ts, outbound-event-store.ts, webhook-delivery-store.ts).
  'webhook_endpoints',
  'outbound_events',
  'webhook_deliveries',
  'webhook_outbox',
  'webhook_delivery_attempts',
  // One snapshot of the business figures per project and day (daily-snapshot-store.ts).
  'daily_snapshots',
] as const;

const indexPlans: readonly IndexPlan[] = [
  { collection: 'api_keys', key: { secret_hash: 1 }, name: 'secret_hash_unique', unique: true },
  { collection: 'api_keys', key: { project_id: 1, created_at: -1 }, name: 'project_created' },
  {
    collection: 'customers',
    key: { project_id: 1, customer_id: 1 },
    name: 'project_customer_unique',
    unique: true,
  },
  {
    collection: 'customers',
    key: { project_id: 1, stripe_customer_id: 1 },
    name: 'project_stripe_customer_unique',
    unique: true,
  },
  // Versions: many per subscription (see SubscriptionStore); _id is the unique key.
  {
    collection: 'subscriptions',
    key: { project_id: 1, stripe_subscription_id: 1 },
    name: 'project_subscription',
  },
  {
    collection: 'subscriptions',
    key: { project_id: 1, stripe_customer_id: 1 },
    name: 'project_stripe_customer',
  },
  { collection: 'subscriptions', key: { project_id: 1, status: 1 }, name: 'project_status' },
  // Facts: a few per purchase (see PurchaseStore); _id is the unique key.
  {
    collection: 'purchases',
    key: { project_id: 1, purchase_key: 1 },
    name: 'project_purchase_key',
  },
  {
    collection: 'purchases',
    key: { project_id: 1, stripe_customer_id: 1 },
    name: 'project_stripe_customer',
  },
  { collection: 'grants', key: { project_id: 1, customer_id: 1 }, name: 'project_customer' },
  { collection: 'credit_grants', key: { project_id: 1, customer_id: 1 }, name: 'project_customer' },
  {
    collection: 'event_receipts',
    key: { project_id: 1, event_id: 1 },
    name: 'project_event_unique',
    unique: true,
  },
  { collection: 'event_receipts', key: { received_at: 1 }, name: 'received_at' },
  { collection: 'audit_log', key: { project_id: 1, time: -1 }, name: 'project_time' },
  {
    collection: 'reconciliation_runs',
    key: { project_id: 1, started_at: -1 },
    name: 'project_started',
  },
  { collection: 'reconciliation_runs', key: { state: 1 }, name: 'state' },
  // Lock generations: inserted only; _id (project + generation) is the unique key.
  {
    collection: 'reconciliation_locks',
    key: { project_id: 1, generation: -1 },
    name: 'project_generation',
  },
  { collection: 'job_claims', key: { created_at: 1 }, name: 'created_at' },
  {
    collection: 'idempotency_records',
    key: { project_id: 1, method: 1, key: 1 },
    name: 'project_method_key_unique',
    unique: true,
  },
  { collection: 'idempotency_records', key: { created_at: 1 }, name: 'created_at' },
  { collection: 'meter_outbox', key: { next_attempt_at: 1 }, name: 'next_attempt_at' },
  { collection: 'meter_reported', key: { created_at: 1 }, name: 'created_at' },
  // One insert appends an operation (a usage, a hold, a reservation's end) and applies it once
  // (usage-ledger-store.ts, src/domain/usage-once-keys.ts).
  { collection: 'usage_ledger', key: { once_key: 1 }, name: 'once_key_unique', unique: true },
  // Reads pick a customer's (a project's) entries by equality, then their _id range
  // (timeline-store.ts); `at` is the retention sweep's filter.
  {
    collection: 'customer_timeline',
    key: { project_id: 1, customer_id: 1 },
    name: 'project_customer',
  },
  { collection: 'customer_timeline', key: { at: 1 }, name: 'at' },
  { collection: 'project_timeline', key: { project_id: 1 }, name: 'project' },
  { collection: 'project_timeline', key: { at: 1 }, name: 'at' },
  {
    collection: 'webhook_endpoints',
    key: { project_id: 1, created_at: 1 },
    name: 'project_created',
  },
  { collection: 'outbound_events', key: { created_at: 1 }, name: 'created_at' },
  {
    collection: 'webhook_deliveries',
    key: { project_id: 1, created_at: -1 },
    name: 'project_created',
  },
  { collection: 'webhook_deliveries', key: { endpoint_id: 1, status: 1 }, name: 'endpoint_status' },
  { collection: 'webhook_outbox', key: { endpoint_id: 1, order: 1 }, name: 'endpoint_order' },
  { collection: 'webhook_delivery_attempts', key: { delivery_id: 1 }, name: 'delivery' },
  { collection: 'webhook_delivery_attempts', key: { started_at: 1 }, name: 'started_at' },
  { collection: 'daily_snapshots', key: { project_id: 1, day: 1 }, name: 'project_day' },
];

export async function ensureIndexes(db: Db): Promise<void> {
  const existing = new Set(
    (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name),
  );
  for (const name of collectionNames) {
    if (!existing.has(name)) await createCollectionIfAbsent(db, name);
  }
  for (const plan of indexPlans) {
    await db
      .collection(plan.collection)
      .createIndex(plan.key, { name: plan.name, unique: plan.unique ?? false });
  }
}

/** Two replicas starting together may both try to create a collection. */
async function createCollectionIfAbsent(db: Db, name: string): Promise<void> {
  try {
    await db.createCollection(name);
  } catch (err) {
    const namespaceExists = 48;
    if (!(err instanceof MongoServerError && err.code === namespaceExists)) throw err;
  }
}
