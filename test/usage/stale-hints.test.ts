// needs: mongodb
/**
 * Two replicas (two ledger stores, each with its own in-process hints) on
 * one database. A replica appends on its hint without reading, so its
 * hint may be behind the other's writes; a refusal must not be decided on
 * it: the store re-decides it on the head MongoDB has. A commit of a hold
 * the other replica made, and a hold the other replica's release made room
 * for, succeed on a replica whose hint predates them.
 */
import test from 'ava';
import { type Db, MongoClient } from 'mongodb';
import { ReservationService } from '../../src/services/reservation-service.js';
import { UsageLedgerStore } from '../../src/store/usage-ledger-store.js';
import { testMongoUrl, uniqueDbName } from '../helpers/services.js';
import { crashTerms, runCrashStep } from './reservation-crash-world.js';

let client: MongoClient;
let db: Db;

test.before(async () => {
  client = await MongoClient.connect(testMongoUrl());
  db = client.db(uniqueDbName('stale_hints'));
});

test.after.always(async () => {
  await db?.dropDatabase();
  await client?.close();
});

const chain = { projectId: 'p1', customerId: 'c1', feature: 'api_requests' };

function replicas() {
  const a = new UsageLedgerStore(db);
  const b = new UsageLedgerStore(db);
  return {
    a,
    b,
    onA: new ReservationService({ ledger: a }),
    onB: new ReservationService({ ledger: b }),
  };
}

test.serial(
  'a commit on a replica whose hint predates the hold finds the hold and commits it',
  async (t) => {
    const { a, b, onA, onB } = replicas();
    const now = Date.now();
    t.deepEqual((await b.state(chain)).holds, []); // b's hint: the empty chain
    const id = await runCrashStep(onA, 'reserve', { now, key: 'k1', amount: 40 });
    const usageId = await runCrashStep(onB, 'commit', {
      now: now + 1,
      key: '',
      amount: 25,
      reservationId: id,
    });
    t.regex(usageId, /^usg_/);
    const state = await a.state(chain);
    t.deepEqual(state.holds, []);
    t.is(state.periods[0]?.usage, 25);
  },
);

test.serial(
  'a hold refused on a stale hint is re-decided on the head: the other replica’s release made room',
  async (t) => {
    const { b, onA, onB } = replicas();
    const now = Date.now();
    const base = (await b.state(chain)).periods[0]?.usage ?? 0;
    const all = 100 - base;
    const id = await runCrashStep(onA, 'reserve', { now, key: 'k2', amount: all });
    t.is((await b.state(chain)).holds.length, 1); // b's hint: nothing left
    await runCrashStep(onA, 'release', { now: now + 1, key: '', amount: 0, reservationId: id });
    const held = await onB.hold({
      chain,
      terms: crashTerms(now + 2),
      amount: all,
      periodEnd: new Date(now + 86_400_000),
      expiresAt: new Date(now + 60_000),
      idempotencyKey: 'k3',
      refuseOverage: true,
      fingerprint: 'k3',
    });
    t.regex(held.reservationId, /^rsv_/);
  },
);
