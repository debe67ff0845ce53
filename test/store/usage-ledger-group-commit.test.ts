// needs: mongodb
/**
 * Group commit in the usage ledger: concurrent appends of one chain in one
 * process are planned one after another on the head and inserted together,
 * yet each caller gets its own outcome; a refusal sees every entry planned
 * before it; a once key repeated inside a batch is applied once; a plan
 * that throws fails only its caller; two stores (replicas) racing on one
 * chain still leave a contiguous chain with every usage counted once.
 */
import test from 'ava';
import type { CommandStartedEvent, Db, MongoClient } from 'mongodb';
import type { ChainTerms } from '../../src/domain/usage-allocation.js';
import { planUsage } from '../../src/domain/usage-plans.js';
import {
  type AppendOutcome,
  chainId,
  type EntryFacts,
  type UsageChain,
  UsageLedgerStore,
  usageLedgerCollection,
} from '../../src/store/usage-ledger-store.js';
import { connectCountingInserts, uniqueDbName } from '../helpers/services.js';

let client: MongoClient;
let db: Db;
let inserts: readonly CommandStartedEvent[];

test.before(async () => {
  ({ client, inserts } = await connectCountingInserts());
  db = client.db(uniqueDbName('ledger_group_commit'));
  await db.collection(usageLedgerCollection).createIndex({ once_key: 1 }, { unique: true });
});

test.after.always(async () => {
  await db?.dropDatabase();
  await client?.close();
});

const periodEnd = new Date('2027-02-01T00:00:00Z');
const terms = (allowance: number | null): ChainTerms => ({
  allowance,
  lots: [],
  now: new Date('2027-01-15T00:00:00Z'),
});

function facts(onceKey: string): EntryFacts {
  return {
    kind: 'usage',
    opId: onceKey,
    usageId: onceKey,
    reservationId: null,
    idempotencyKey: onceKey,
    occurredAt: new Date('2027-01-15T00:00:00Z'),
    onceKey,
  };
}

function track(
  store: UsageLedgerStore,
  chain: UsageChain,
  onceKey: string,
  amount: number,
  allowance: number | null = null,
): Promise<AppendOutcome> {
  return store.append(chain, facts(onceKey), (state) =>
    planUsage(state, terms(allowance), { periodEnd, amount, refuseOverage: allowance !== null }),
  );
}

const chainNamed = (customerId: string): UsageChain => ({
  projectId: 'proj_gc',
  customerId,
  feature: 'api_requests',
});

async function seqsOf(chain: UsageChain): Promise<number[]> {
  const entries = await db
    .collection<{ chain: string; seq: number }>(usageLedgerCollection)
    .find({ chain: chainId(chain) })
    .toArray();
  return entries.map((e) => e.seq).sort((a, b) => a - b);
}

test('concurrent appends of one chain each get their entry, in fewer inserts than appends', async (t) => {
  const store = new UsageLedgerStore(db);
  const chain = chainNamed('c-batch');
  await track(store, chain, 'gc-first', 1); // the head is known from here on
  const before = inserts.length;
  const outcomes = await Promise.all(
    Array.from({ length: 40 }, (_, n) => track(store, chain, `gc-batch-${n}`, 1)),
  );
  const insertCommands = inserts.length - before;
  t.true(outcomes.every((o) => o.kind === 'appended' && !o.repeated));
  const usageIds = outcomes.map((o) => (o.kind === 'appended' ? o.entry.usage_id : null));
  t.deepEqual(
    usageIds,
    Array.from({ length: 40 }, (_, n) => `gc-batch-${n}`),
    'each caller gets the entry of its own usage',
  );
  t.deepEqual(
    await seqsOf(chain),
    Array.from({ length: 41 }, (_, n) => n + 1),
  );
  t.true(insertCommands < 40, `${insertCommands} insert commands for 40 appends`);
  t.is((await store.state(chain)).periods[0]?.usage, 41);
});

test('a refusal in a batch sees the entries planned before it', async (t) => {
  const store = new UsageLedgerStore(db);
  const chain = chainNamed('c-refuse');
  const outcomes = await Promise.all(
    Array.from({ length: 12 }, (_, n) => track(store, chain, `gc-refuse-${n}`, 1, 10)),
  );
  const appended = outcomes.filter((o) => o.kind === 'appended');
  const refused = outcomes.filter((o) => o.kind === 'refused');
  t.is(appended.length, 10);
  t.is(refused.length, 2);
  t.true(refused.every((o) => o.kind === 'refused' && o.reason === 'balance' && o.balance === 0));
  t.is((await store.state(chain)).periods[0]?.usage, 10);
});

test('the same once key twice in one batch is applied once and both callers get that entry', async (t) => {
  const store = new UsageLedgerStore(db);
  const chain = chainNamed('c-once');
  const [first, second, other] = await Promise.all([
    track(store, chain, 'gc-once-a', 5),
    track(store, chain, 'gc-once-a', 5),
    track(store, chain, 'gc-once-b', 2),
  ]);
  t.is(first?.kind === 'appended' && first.repeated, false);
  t.is(second?.kind === 'appended' && second.repeated, true);
  t.is(
    first?.kind === 'appended' && second?.kind === 'appended' && first.entry._id,
    second?.kind === 'appended' && second.entry._id,
  );
  t.is(other?.kind === 'appended' && other.entry.usage_id, 'gc-once-b');
  t.deepEqual(await seqsOf(chain), [1, 2]);
  t.is((await store.state(chain)).periods[0]?.usage, 7);
});

test('a plan that throws fails its own caller only', async (t) => {
  const store = new UsageLedgerStore(db);
  const chain = chainNamed('c-throw');
  const [good, bad] = await Promise.allSettled([
    track(store, chain, 'gc-throw-ok', 3),
    store.append(chain, facts('gc-throw-bad'), () => {
      throw new Error('plan failed');
    }),
  ]);
  t.is(good?.status, 'fulfilled');
  t.is(bad?.status === 'rejected' && (bad.reason as Error).message, 'plan failed');
  t.deepEqual(await seqsOf(chain), [1]);
});

test('two stores racing on one chain leave it contiguous with every usage once', async (t) => {
  const replicaA = new UsageLedgerStore(db);
  const replicaB = new UsageLedgerStore(db);
  const chain = chainNamed('c-race');
  const outcomes = await Promise.all(
    Array.from({ length: 60 }, (_, n) =>
      track(n % 2 === 0 ? replicaA : replicaB, chain, `gc-race-${n}`, 1, 50),
    ),
  );
  t.is(outcomes.filter((o) => o.kind === 'appended').length, 50, 'the balance of 50 holds');
  t.deepEqual(
    await seqsOf(chain),
    Array.from({ length: 50 }, (_, n) => n + 1),
  );
  t.is((await replicaA.state(chain)).periods[0]?.usage, 50);
  t.is((await replicaB.state(chain)).periods[0]?.usage, 50);
});
