// needs: mongodb
/**
 * Group commit across chains (src/store/lone-entry-inserts.ts) on real
 * FerretDB: entries of many chains handed in at once land with few insert
 * commands, each caller told whether its entry was inserted; a unique
 * index's refusal answers only that entry; any other failure fails every
 * entry of its batch; and, through the ledger, 64 customers tracking at
 * once each get a contiguous chain.
 */
import test from 'ava';
import { type CommandStartedEvent, type Db, MongoClient } from 'mongodb';
import type { ChainTerms } from '../../src/domain/usage-allocation.js';
import { planUsage } from '../../src/domain/usage-plans.js';
import { LoneEntryInserts } from '../../src/store/lone-entry-inserts.js';
import { UsageLedgerStore, usageLedgerCollection } from '../../src/store/usage-ledger-store.js';
import { connectCountingInserts, testMongoUrl, uniqueDbName } from '../helpers/services.js';

interface Doc {
  _id: string;
  once_key: string;
}

let client: MongoClient;
let db: Db;
let inserts: readonly CommandStartedEvent[];

test.before(async () => {
  ({ client, inserts } = await connectCountingInserts());
  db = client.db(uniqueDbName('lone_entry_inserts'));
});

test.after.always(async () => {
  await db?.dropDatabase();
  await client?.close();
});

const insertsInto = (collection: string) =>
  inserts.filter((event) => event.command.insert === collection).length;

test.serial('entries handed in together land in a few commands, each answered', async (t) => {
  const collection = db.collection<Doc>('together');
  const lone = new LoneEntryInserts(collection);
  const docs = Array.from({ length: 40 }, (_, n) => ({ _id: `c${n}:1`, once_key: `k${n}` }));
  const answers = await Promise.all(docs.map((doc) => lone.insert(doc)));
  t.deepEqual(
    answers,
    docs.map(() => true),
  );
  t.is(await collection.countDocuments(), 40);
  // The first goes alone at once; the 39 that waited go as one command.
  t.is(insertsInto('together'), 2);
});

test.serial(
  'a unique index refuses one entry of a batch: only that one is not inserted',
  async (t) => {
    const collection = db.collection<Doc>('refused');
    await collection.createIndex({ once_key: 1 }, { unique: true });
    await collection.insertOne({ _id: 'taken:1', once_key: 'used' });
    const lone = new LoneEntryInserts(collection);
    const answers = await Promise.all([
      lone.insert({ _id: 'a:1', once_key: 'a' }),
      lone.insert({ _id: 'b:1', once_key: 'b' }),
      lone.insert({ _id: 'taken:1', once_key: 'other' }), // its seq is taken
      lone.insert({ _id: 'c:1', once_key: 'used' }), // its once key is taken
      lone.insert({ _id: 'd:1', once_key: 'd' }),
    ]);
    t.deepEqual(answers, [true, true, false, false, true]);
    const ids = (await collection.find().toArray()).map((doc) => doc._id).sort();
    t.deepEqual(ids, ['a:1', 'b:1', 'd:1', 'taken:1']);
  },
);

test.serial('any other failure fails every entry of its batch', async (t) => {
  const other = await new MongoClient(testMongoUrl()).connect();
  const lone = new LoneEntryInserts(other.db(db.databaseName).collection<Doc>('failing'));
  await other.close();
  const results = await Promise.allSettled([
    lone.insert({ _id: 'x:1', once_key: 'x' }),
    lone.insert({ _id: 'y:1', once_key: 'y' }),
  ]);
  t.deepEqual(
    results.map((r) => r.status),
    ['rejected', 'rejected'],
  );
});

test.serial(
  '64 customers tracking at once: one entry each, contiguous, few commands',
  async (t) => {
    await db.collection(usageLedgerCollection).createIndex({ once_key: 1 }, { unique: true });
    const ledger = new UsageLedgerStore(db);
    const now = new Date();
    const periodEnd = new Date(now.getTime() + 86_400_000);
    const terms: ChainTerms = { allowance: 1_000, lots: [], now };
    const before = insertsInto(usageLedgerCollection);
    const outcomes = await Promise.all(
      Array.from({ length: 64 }, (_, n) =>
        ledger.append(
          { projectId: 'p', customerId: `c${n}`, feature: 'api_requests' },
          {
            kind: 'usage',
            opId: `usg_${n}`,
            usageId: `usg_${n}`,
            reservationId: null,
            idempotencyKey: `key-${n}`,
            occurredAt: now,
            onceKey: `track:p:key-${n}`,
          },
          (state) => planUsage(state, terms, { periodEnd, amount: 3, refuseOverage: true }),
        ),
      ),
    );
    for (const outcome of outcomes) {
      t.is(outcome.kind, 'appended');
      if (outcome.kind === 'appended') t.is(outcome.entry.seq, 1);
    }
    for (let n = 0; n < 64; n += 1) {
      const state = await ledger.state({
        projectId: 'p',
        customerId: `c${n}`,
        feature: 'api_requests',
      });
      t.is(state.periods[0]?.usage, 3);
    }
    t.true(insertsInto(usageLedgerCollection) - before <= 3, 'one command for the waiting entries');
  },
);
