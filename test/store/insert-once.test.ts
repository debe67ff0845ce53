// needs: mongodb
/**
 * insertOnce, the idempotent insert every insert-only store uses: the first
 * write of a document is 'inserted', the same `_id` or unique key again is
 * 'exists' and leaves the first one as it was, and any other refusal still
 * throws.
 */
import test from 'ava';
import { type Db, MongoClient } from 'mongodb';
import { insertOnce } from '../../src/store/insert-once.js';
import { testMongoUrl, uniqueDbName } from '../helpers/services.js';

interface Doc {
  _id: string;
  key: string;
  value: number;
}

let client: MongoClient;
let db: Db;

test.before(async () => {
  client = await new MongoClient(testMongoUrl()).connect();
  db = client.db(uniqueDbName('insert_once'));
});

test.after.always(async () => {
  await db?.dropDatabase();
  await client?.close();
});

test('the same _id twice: inserted, then exists, and the first document stays', async (t) => {
  const docs = db.collection<Doc>('by_id');
  t.is(await insertOnce(docs, { _id: 'a', key: 'a', value: 1 }), 'inserted');
  t.is(await insertOnce(docs, { _id: 'a', key: 'a', value: 2 }), 'exists');
  t.deepEqual(await docs.findOne({ _id: 'a' }), { _id: 'a', key: 'a', value: 1 });
});

test('a unique index counts as much as the _id', async (t) => {
  const docs = db.collection<Doc>('by_key');
  await docs.createIndex({ key: 1 }, { unique: true });
  t.is(await insertOnce(docs, { _id: 'x', key: 'k', value: 1 }), 'inserted');
  t.is(await insertOnce(docs, { _id: 'y', key: 'k', value: 2 }), 'exists');
  t.is(await docs.countDocuments({}), 1);
});

test('a refusal other than a duplicate key throws', async (t) => {
  const docs = db.collection<Doc>('bad_keys');
  // FerretDB, like MongoDB, refuses field names that start with `$`.
  const bad = { _id: 'z', key: 'z', value: 1, $bad: true } as Doc;
  await t.throwsAsync(insertOnce(docs, bad));
});
