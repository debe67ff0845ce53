// needs: mongodb redis
/**
 * The retention job keeps `idempotency_records`, `event_receipts`,
 * `meter_reported` and the timelines bounded: a sweep deletes what is past
 * its retention (idempotency records after IDEMPOTENCY_RETENTION_HOURS,
 * finished receipts after EVENT_RECEIPT_RETENTION_DAYS, reported meter
 * events after USAGE_CLAIM_RETENTION_DAYS, timeline entries after
 * TIMELINE_RETENTION_DAYS, outbound webhook events, finished deliveries
 * and attempts after OUTBOUND_WEBHOOK_RETENTION_DAYS) and keeps everything
 * newer, every receipt a delivery is still processing and every outbound
 * delivery still pending. It drops the collections of the usage
 * claims and reservation documents no layout uses any more, once. Two
 * instances share one database: one occurrence is swept by one of them
 * only.
 */
import test, { type ExecutionContext } from 'ava';
import { type Db, MongoClient } from 'mongodb';
import { isConfigError, loadConfig } from '../../src/config.js';
import type {
  EventReceiptDoc,
  EventReceiptStatus,
  JobClaimDoc,
} from '../../src/store/documents.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { testMasterKeys, uniqueDbName } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const hour = 3600_000;
const day = 24 * hour;
/** Small batches, so a sweep here takes several of them. */
const batchSize = 4;

let a: TestApp;
let b: TestApp;
let mongo: MongoClient;
let database: string;

test.before(async () => {
  database = uniqueDbName('retention');
  const env = {
    JOB_POLL_MS: '100',
    IDEMPOTENCY_RETENTION_HOURS: '24',
    EVENT_RECEIPT_RETENTION_DAYS: '30',
    RETENTION_BATCH_SIZE: String(batchSize),
    USAGE_CLAIM_RETENTION_DAYS: '30',
    TIMELINE_RETENTION_DAYS: '90',
    OUTBOUND_WEBHOOK_RETENTION_DAYS: '10',
  };
  a = await startTestApp({ database, env });
  b = await startTestApp({ database, env });
  mongo = new MongoClient(a.config.mongodbUrl);
  await mongo.connect();
});

test.after.always(async () => {
  await mongo?.close();
  await Promise.all([a?.app.stop(), b?.app.stop()]);
});

interface Seeded {
  readonly oldRecords: string[];
  readonly newRecords: string[];
  readonly oldReceipts: string[];
  readonly keptReceipts: string[];
  readonly usage: SeededUsage;
  readonly timeline: SeededTimeline;
  readonly webhooks: SeededWebhooks;
}

const webhookCollections = [
  'outbound_events',
  'webhook_deliveries',
  'webhook_delivery_attempts',
] as const;
type SeededWebhooks = Record<
  (typeof webhookCollections)[number],
  { readonly old: string[]; readonly kept: string[] }
>;

/**
 * Outbound webhook records 11 days old and younger (the retention is 10
 * days here); an old delivery still pending is kept.
 */
async function seedWebhooks(db: Db, tag: string, now: number): Promise<SeededWebhooks> {
  const at = (ageMs: number) => new Date(now - ageMs);
  const events = {
    old: [11 * day, 40 * day].map((age, i) => ({ _id: `${tag}:ev-old-${i}`, created_at: at(age) })),
    kept: [9 * day, hour].map((age, i) => ({ _id: `${tag}:ev-kept-${i}`, created_at: at(age) })),
  };
  const delivery = (name: string, age: number, status: string) => ({
    _id: `${tag}:${name}`,
    created_at: at(age),
    status,
  });
  const deliveries = {
    old: [delivery('d-succeeded', 11 * day, 'succeeded'), delivery('d-failed', 12 * day, 'failed')],
    kept: [delivery('d-pending', 20 * day, 'pending'), delivery('d-recent', day, 'succeeded')],
  };
  const attempts = {
    old: [11 * day, 13 * day].map((age, i) => ({ _id: `${tag}:a-old-${i}`, started_at: at(age) })),
    kept: [9 * day].map((age, i) => ({ _id: `${tag}:a-kept-${i}`, started_at: at(age) })),
  };
  const all = {
    outbound_events: events,
    webhook_deliveries: deliveries,
    webhook_delivery_attempts: attempts,
  };
  const seeded = {} as Record<
    (typeof webhookCollections)[number],
    { old: string[]; kept: string[] }
  >;
  for (const collection of webhookCollections) {
    const { old, kept } = all[collection];
    const docs = [...old, ...kept].map((doc) => ({ ...doc, project_id: tag }));
    await db.collection<{ _id: string }>(collection).insertMany(docs);
    seeded[collection] = { old: old.map((d) => d._id), kept: kept.map((d) => d._id) };
  }
  return seeded;
}

const timelineCollections = ['customer_timeline', 'project_timeline'] as const;
type SeededTimeline = Record<
  (typeof timelineCollections)[number],
  { readonly old: string[]; readonly kept: string[] }
>;

/** Timeline entries 91 days old and younger (the retention is 90 days here). */
async function seedTimeline(db: Db, tag: string, now: number): Promise<SeededTimeline> {
  const ages = { old: [91 * day, 400 * day], kept: [89 * day, hour] };
  const seeded = {} as Record<
    (typeof timelineCollections)[number],
    { old: string[]; kept: string[] }
  >;
  for (const collection of timelineCollections) {
    const docs = (which: 'old' | 'kept') =>
      ages[which].map((ageMs, i) => ({
        _id: `${tag}:${collection}:${which}-${i}`,
        project_id: tag,
        at: new Date(now - ageMs),
      }));
    const [old, kept] = [docs('old'), docs('kept')];
    await db.collection<{ _id: string }>(collection).insertMany([...old, ...kept]);
    seeded[collection] = { old: old.map((d) => d._id), kept: kept.map((d) => d._id) };
  }
  return seeded;
}

/** Per collection of usage records: what is past 30 days, and what is kept. */
type SeededUsage = Record<UsageCollection, { readonly old: string[]; readonly kept: string[] }>;
type UsageCollection = 'meter_reported';
const usageCollections: readonly UsageCollection[] = ['meter_reported'];

/** Reported meter events, 31 days old and younger. */
async function seedUsage(db: Db, tag: string, now: number): Promise<SeededUsage> {
  const ages = { old: [31 * day, 31 * day, 45 * day], kept: [29 * day, hour] };
  const docs = (collection: UsageCollection, which: 'old' | 'kept') =>
    ages[which].map((ageMs, i) => ({
      _id: `${tag}:${collection}:${which}-${i}`,
      project_id: tag,
      outcome: 'sent',
      created_at: new Date(now - ageMs),
    }));
  const seeded = {} as Record<UsageCollection, { old: string[]; kept: string[] }>;
  for (const collection of usageCollections) {
    const old = docs(collection, 'old');
    const kept = docs(collection, 'kept');
    await db.collection<{ _id: string }>(collection).insertMany([...old, ...kept]);
    seeded[collection] = { old: old.map((d) => d._id), kept: kept.map((d) => d._id) };
  }
  return seeded;
}

/** Old and new records of one test, told apart by `tag`. */
async function seed(db: Db, tag: string): Promise<Seeded> {
  const now = Date.now();
  const record = (name: string, ageMs: number) => ({
    _id: `${tag}:${name}`,
    project_id: tag,
    method: 'billing.v1.AdminService/GrantEntitlement',
    key: name,
    request_hash: 'h',
    status: 'completed',
    response: null,
    created_at: new Date(now - ageMs),
    lease_until: new Date(now - ageMs + 60_000),
  });
  const oldRecords = Array.from({ length: 9 }, (_, i) => record(`old-${i}`, 25 * hour));
  const newRecords = [record('new-0', 23 * hour), record('new-1', hour), record('new-2', 0)];
  await db
    .collection<{ _id: string }>('idempotency_records')
    .insertMany([...oldRecords, ...newRecords]);

  const receipt = (
    name: string,
    status: EventReceiptStatus,
    ageMs: number,
    leaseFromNowMs = -ageMs + 30_000,
  ): EventReceiptDoc => ({
    _id: `${tag}:${name}`,
    project_id: tag,
    event_id: name,
    type: 'customer.subscription.updated',
    status,
    attempts: 1,
    last_error: status === 'failed' ? 'boom' : null,
    received_at: new Date(now - ageMs),
    processed_at: status === 'processing' ? null : new Date(now - ageMs),
    lease_until: new Date(now + leaseFromNowMs),
  });
  const old = 31 * day;
  const oldReceipts = [
    ...Array.from({ length: 6 }, (_, i) => receipt(`processed-${i}`, 'processed', old)),
    receipt('ignored', 'ignored', old),
    receipt('failed', 'failed', old),
    // Claimed long ago by a worker that died: its lease ended long ago too.
    receipt('abandoned', 'processing', old),
  ];
  const keptReceipts = [
    receipt('recent-processed', 'processed', 29 * day),
    receipt('recent-failed', 'failed', day),
    receipt('fresh', 'processing', 0),
    // Old, but a delivery holds it right now: never deleted under it.
    receipt('leased', 'processing', old, 30_000),
  ];
  await db
    .collection<EventReceiptDoc>('event_receipts')
    .insertMany([...oldReceipts, ...keptReceipts]);
  const ids = (docs: ReadonlyArray<{ _id: string }>) => docs.map((doc) => doc._id);
  return {
    oldRecords: ids(oldRecords),
    newRecords: ids(newRecords),
    oldReceipts: ids(oldReceipts),
    keptReceipts: ids(keptReceipts),
    usage: await seedUsage(db, tag, now),
    timeline: await seedTimeline(db, tag, now),
    webhooks: await seedWebhooks(db, tag, now),
  };
}

async function remaining(db: Db, collection: string, tag: string): Promise<string[]> {
  const docs = await db.collection<{ _id: string }>(collection).find({ project_id: tag }).toArray();
  return docs.map((doc) => doc._id).sort();
}

/** What a finished sweep of `seeded` reports it deleted. */
function deletedOf(seeded: Seeded) {
  return {
    idempotency_records: seeded.oldRecords.length,
    event_receipts: seeded.oldReceipts.length,
    meter_reported: seeded.usage.meter_reported.old.length,
    timeline_entries: timelineCollections.reduce((n, c) => n + seeded.timeline[c].old.length, 0),
    outbound_events: seeded.webhooks.outbound_events.old.length,
    webhook_deliveries: seeded.webhooks.webhook_deliveries.old.length,
    webhook_delivery_attempts: seeded.webhooks.webhook_delivery_attempts.old.length,
    leftover_collections: 0,
  };
}

/** The usage records of `tag` left after a sweep: only the kept ones. */
async function assertUsageKept(
  t: ExecutionContext,
  db: Db,
  tag: string,
  seeded: Seeded,
): Promise<void> {
  for (const collection of usageCollections) {
    const docs = await db
      .collection<{ _id: string }>(collection)
      .find({ _id: { $regex: `^${tag}:` } })
      .toArray();
    t.deepEqual(
      docs.map((doc) => doc._id).sort(),
      [...seeded.usage[collection].kept].sort(),
      `${collection} past 30 days went, younger ones stayed`,
    );
  }
  for (const collection of timelineCollections) {
    t.deepEqual(
      await remaining(db, collection, tag),
      [...seeded.timeline[collection].kept].sort(),
      `${collection} past 90 days went, younger entries stayed`,
    );
  }
  for (const collection of webhookCollections) {
    t.deepEqual(
      await remaining(db, collection, tag),
      [...seeded.webhooks[collection].kept].sort(),
      `${collection} past 10 days went (pending deliveries stay), younger ones stayed`,
    );
  }
}

test.serial('a triggered sweep deletes what is past retention and keeps the rest', async (t) => {
  const db = mongo.db(database);
  const seeded = await seed(db, 'triggered');
  const occurrence = await a.app.retention.trigger();
  // Either instance's Agenda may pick the job up; its claim records the outcome.
  const result = await waitFor(() => a.app.retention.result(occurrence), {
    what: `retention occurrence ${occurrence} to finish`,
    until: (done) => done !== undefined,
  });
  t.deepEqual(result, deletedOf(seeded));
  t.deepEqual(
    await remaining(db, 'idempotency_records', 'triggered'),
    [...seeded.newRecords].sort(),
  );
  t.deepEqual(await remaining(db, 'event_receipts', 'triggered'), [...seeded.keptReceipts].sort());
  await assertUsageKept(t, db, 'triggered', seeded);
});

test.serial(
  'both instances run one occurrence at the same moment: one sweeps, one skips',
  async (t) => {
    const db = mongo.db(database);
    const seeded = await seed(db, 'raced');
    const occurrence = 'test:raced';
    const outcomes = await Promise.all([
      a.app.retention.run(occurrence),
      b.app.retention.run(occurrence),
    ]);
    t.deepEqual([...outcomes].sort(), ['skipped', 'succeeded']);
    t.deepEqual(await b.app.retention.result(occurrence), deletedOf(seeded));
    t.deepEqual(await remaining(db, 'idempotency_records', 'raced'), [...seeded.newRecords].sort());
    t.deepEqual(await remaining(db, 'event_receipts', 'raced'), [...seeded.keptReceipts].sort());
    await assertUsageKept(t, db, 'raced', seeded);
  },
);

test.serial(
  'the Agenda job removed under the sweep (the other replica finished its copy): the sweep still finishes',
  async (t) => {
    // Agenda may run one job on both replicas (FerretDB); the one that lost the claim finishes
    // first and removes the job, so every touch of the winner fails from then on.
    const db = mongo.db(database);
    const seeded = await seed(db, 'untouchable');
    const occurrence = 'test:untouchable';
    const context = {
      signal: new AbortController().signal,
      touch: () => Promise.reject(new Error('job cannot be updated in the database')),
    };
    t.is(await a.app.retention.run(occurrence, context), 'succeeded');
    t.deepEqual(await a.app.retention.result(occurrence), deletedOf(seeded));
    t.deepEqual(
      await remaining(db, 'event_receipts', 'untouchable'),
      [...seeded.keptReceipts].sort(),
    );
  },
);

test.serial(
  'the leftover usage collections (claims, take-over markers, reservation documents) are dropped once',
  async (t) => {
    const db = mongo.db(database);
    const leftovers = ['usage_claims', 'usage_claim_takeovers', 'usage_reservations'];
    for (const name of leftovers) {
      await db.collection<{ _id: string }>(name).insertOne({ _id: `left:${name}` });
    }
    const names = async () =>
      (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
    t.is(await a.app.retention.run('test:leftovers-1'), 'succeeded');
    t.like(await a.app.retention.result('test:leftovers-1'), { leftover_collections: 3 });
    const after = await names();
    for (const name of leftovers) t.false(after.includes(name), `${name} dropped`);
    t.true(after.includes('usage_ledger'), 'the ledger stays');
    t.is(await b.app.retention.run('test:leftovers-2'), 'succeeded');
    t.like(await b.app.retention.result('test:leftovers-2'), { leftover_collections: 0 });
  },
);

test.serial('RETENTION_CRON schedules the sweep', async (t) => {
  const scheduledDb = uniqueDbName('retention_cron');
  const c = await startTestApp({
    database: scheduledDb,
    env: {
      JOB_POLL_MS: '100',
      RETENTION_CRON: '* * * * * *',
      TIMELINE_RETENTION_DAYS: '90',
      OUTBOUND_WEBHOOK_RETENTION_DAYS: '10',
    },
  });
  try {
    const db = mongo.db(scheduledDb);
    const seeded = await seed(db, 'scheduled');
    const claims = db.collection<JobClaimDoc>('job_claims');
    // A finished occurrence that started after the seeding saw every old record.
    const seededAt = new Date();
    const finished = await waitFor(
      () =>
        claims.findOne({
          job: 'retention.sweep',
          created_at: { $gt: seededAt },
          finished_at: { $exists: true },
        }),
      { what: 'a scheduled retention occurrence to finish', until: (claim) => claim !== null },
    );
    t.truthy(finished, 'a scheduled occurrence finished');
    t.deepEqual(
      await remaining(db, 'idempotency_records', 'scheduled'),
      [...seeded.newRecords].sort(),
    );
    t.deepEqual(
      await remaining(db, 'event_receipts', 'scheduled'),
      [...seeded.keptReceipts].sort(),
    );
    await assertUsageKept(t, db, 'scheduled', seeded);
  } finally {
    await c.app.stop();
  }
});

test('retention settings: defaults, and receipts and usage claims are kept at least 30 days', (t) => {
  const required = {
    MONGODB_URL: 'mongodb://127.0.0.1:27017/',
    REDIS_URL: 'redis://127.0.0.1:6379',
    MASTER_KEYS: testMasterKeys(),
  };
  const defaults = loadConfig(required);
  t.is(defaults.retentionCron, '30 4 * * *');
  t.is(defaults.idempotencyRetentionHours, 24);
  t.is(defaults.eventReceiptRetentionDays, 30);
  t.is(loadConfig({ ...required, RETENTION_CRON: 'off' }).retentionCron, undefined);
  t.is(
    loadConfig({ ...required, EVENT_RECEIPT_RETENTION_DAYS: '90' }).eventReceiptRetentionDays,
    90,
  );
  const err = t.throws(() => loadConfig({ ...required, EVENT_RECEIPT_RETENTION_DAYS: '29' }));
  t.true(isConfigError(err));
  t.true(err?.message.includes('EVENT_RECEIPT_RETENTION_DAYS'));
  t.is(defaults.usageClaimRetentionDays, 30);
  t.is(loadConfig({ ...required, USAGE_CLAIM_RETENTION_DAYS: '60' }).usageClaimRetentionDays, 60);
  // An idempotency key of TrackUsage is applied once for at least 30 days.
  const short = t.throws(() => loadConfig({ ...required, USAGE_CLAIM_RETENTION_DAYS: '29' }));
  t.true(isConfigError(short));
  t.true(short?.message.includes('USAGE_CLAIM_RETENTION_DAYS'));
  // ExplainEntitlement reaches back as far as the timeline is kept.
  t.is(defaults.timelineRetentionDays, 400);
  const none = t.throws(() => loadConfig({ ...required, TIMELINE_RETENTION_DAYS: '0' }));
  t.true(none?.message.includes('TIMELINE_RETENTION_DAYS')); // An outbound delivery's log outlives its retries (3 days by default).
  t.is(defaults.outboundWebhooks.retentionDays, 30);
  t.is(defaults.outboundWebhooks.retryForMs, 72 * hour);
  const beforeRetriesEnd = t.throws(() =>
    loadConfig({ ...required, OUTBOUND_WEBHOOK_RETENTION_DAYS: '3' }),
  );
  t.true(beforeRetriesEnd?.message.includes('OUTBOUND_WEBHOOK_RETENTION_DAYS'));
});
