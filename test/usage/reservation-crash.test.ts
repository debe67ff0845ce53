// needs: mongodb
/**
 * A process that dies between the steps of a reservation (after its
 * ledger insert, before it answers) loses nothing and doubles nothing: each
 * step is one insert with a once key, so a retry on another process (no
 * shared memory, no lease to wait out) answers what the dead one wrote:
 * the same reservation with its first expiry, the same commit's usage id,
 * and one entry per step. The child is a real process killed with SIGKILL
 * (reservation-crash-step.ts); the stores are real, on FerretDB.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { type Db, MongoClient } from 'mongodb';
import { nodeEntryArgs } from '../../scripts/lib/node-entry.js';
import { ReservationService } from '../../src/services/reservation-service.js';
import { type UsageEntryDoc, UsageLedgerStore } from '../../src/store/usage-ledger-store.js';
import { repoRoot } from '../helpers/process.js';
import { testMongoUrl, uniqueDbName } from '../helpers/services.js';
import {
  type CrashRequest,
  type CrashStep,
  crashChain,
  runCrashStep,
} from './reservation-crash-world.js';

let client: MongoClient;
let db: Db;
let database: string;

test.before(async () => {
  client = await MongoClient.connect(testMongoUrl());
  database = uniqueDbName('reservation_crash');
  db = client.db(database);
});

test.after.always(async () => {
  await db?.dropDatabase();
  await client?.close();
});

const stepScript = fileURLToPath(new URL('./reservation-crash-step.ts', import.meta.url));

/** Runs `step` in a child process that dies right after its insert; answers the signal it died of. */
function crashIn(step: CrashStep, request: CrashRequest): Promise<NodeJS.Signals | null> {
  const child = spawn(
    process.execPath,
    [...nodeEntryArgs(stepScript), database, step, JSON.stringify(request)],
    {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '', TEST_MONGODB_URL: testMongoUrl() },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  return new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
}

/** This process as the replica that retries: a ledger store of its own. */
function survivor() {
  const ledger = new UsageLedgerStore(db);
  const service = new ReservationService({ ledger });
  const retry = (step: CrashStep, request: CrashRequest) => runCrashStep(service, step, request);
  return { ledger, retry };
}

const entries = () =>
  db
    .collection<UsageEntryDoc>('usage_ledger')
    .find({ customer_id: crashChain.customerId })
    .sort({ seq: 1 })
    .toArray();

test.serial(
  'a process killed after each step: the retry answers what it wrote, and each step is written once',
  async (t) => {
    const start = Date.now();
    // A fresh store: this process never saw the dead one's writes.
    const { ledger, retry } = survivor();

    t.is(await crashIn('reserve', { now: start, key: 'job-1', amount: 70 }), 'SIGKILL');
    const [hold] = await entries();
    t.like(hold, { kind: 'hold', seq: 1 });
    // The balance (30 left) would refuse another 70: the retry still answers the hold.
    const reservationId = await retry('reserve', { now: start + 5_000, key: 'job-1', amount: 70 });
    t.is(reservationId, hold?.reservation_id ?? 'no hold');
    t.is(hold?.expires_at?.getTime(), start + 60_000, 'the first expiry stands');
    t.deepEqual(
      (await ledger.state(crashChain)).holds.map((h) => [h.id, h.amount]),
      [[reservationId, 70]],
    );

    const commit = { now: start + 6_000, key: '', amount: 30, reservationId };
    t.is(await crashIn('commit', commit), 'SIGKILL');
    const usageId = await retry('commit', commit);
    const afterCommit = await entries();
    t.deepEqual(
      afterCommit.map((e) => e.kind),
      ['hold', 'commit'],
    );
    t.is(afterCommit[1]?.usage_id, usageId, 'the retry answers the dead commit’s usage id');
    const state = await ledger.state(crashChain);
    t.deepEqual(state.holds, []);
    t.is(state.periods[0]?.usage, 30);
    // A release after it is no end of its own: the commit was the reservation's one end.
    await t.throwsAsync(retry('release', { ...commit, now: start + 7_000 }), {
      message: /already ended otherwise/,
    });
    t.is((await entries()).length, 2);
  },
);

test.serial(
  'a process killed after a release: the retry is a no-op and a commit is refused',
  async (t) => {
    const start = Date.now();
    const { ledger, retry } = survivor();
    const reservationId = await retry('reserve', { now: start, key: 'job-2', amount: 10 });
    const release = { now: start + 1_000, key: '', amount: 0, reservationId };
    t.is(await crashIn('release', release), 'SIGKILL');
    t.is(await retry('release', release), '');
    await t.throwsAsync(retry('commit', { ...release, amount: 10 }), {
      message: /already ended otherwise/,
    });
    const ends = (await entries()).filter((e) => e.reservation_id === reservationId);
    t.deepEqual(
      ends.map((e) => e.kind),
      ['hold', 'release'],
    );
    t.deepEqual(
      (await ledger.state(crashChain)).holds.filter((h) => h.id === reservationId),
      [],
    );
  },
);
