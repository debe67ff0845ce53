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
}

export async function connectMongo(url: string, database: string): Promise<MongoConnection> {
  // A short server selection timeout: when MongoDB is down, calls fail fast
  // with UNAVAILABLE instead of hanging for the driver's default 30 s.
  const client = new MongoClient(url, {
    serverSelectionTimeoutMS: 3000,
    appName: 'billing-service',
  });
  await client.connect();
  return { client, db: client.db(database) };
}

interface IndexPlan {
  readonly collection: string;
  readonly key: IndexSpecification;
  readonly name: string;
  readonly unique?: boolean;
}

export const collectionNames = [
  'projects',
  'api_keys',
  'customers',
  'subscriptions',
  'purchases',
  'grants',
  'event_receipts',
  'audit_log',
  'reconciliation_runs',
  'idempotency_records',
  'reconciliation_locks',
  'job_claims',
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
