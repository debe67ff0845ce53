// needs: mongodb
/**
 * A ReserveUsage whose process died after its hold was appended, before
 * its claim was completed: after the claim's lease a retry takes it over,
 * finds the hold entry on the chain (by the reservation id it was written
 * for) and answers that reservation, with the same expiry; it holds once.
 * Real stores on FerretDB; the crash is a ledger whose append dies after
 * writing.
 */
import test from 'ava';
import { type Db, MongoClient } from 'mongodb';
import { ReservationService } from '../../src/services/reservation-service.js';
import { UsageOnce } from '../../src/services/usage-once.js';
import { UsageClaimStore } from '../../src/store/usage-claim-store.js';
import { type UsageEntryDoc, UsageLedgerStore } from '../../src/store/usage-ledger-store.js';
import { UsageReservationStore } from '../../src/store/usage-reservation-store.js';
import { testMongoUrl, uniqueDbName } from '../helpers/services.js';

let client: MongoClient;
let db: Db;

test.before(async () => {
  client = await MongoClient.connect(testMongoUrl());
  db = client.db(uniqueDbName('reservation_takeover'));
});

test.after.always(async () => {
  await db?.dropDatabase();
  await client?.close();
});

test('a crashed ReserveUsage is taken over after its lease and its hold is found, not held again', async (t) => {
  const clock = { ms: Date.now() };
  const now = () => new Date(clock.ms);
  const ledger = new UsageLedgerStore(db);
  const once = new UsageOnce({
    claims: new UsageClaimStore(db),
    ledger,
    leaseMs: 10_000,
    waitMs: 60_000,
    now,
  });
  const dying: Pick<UsageLedgerStore, 'append'> = {
    append: async (...args) => {
      await ledger.append(...args);
      throw new Error('process died');
    },
  };
  const reservations = new UsageReservationStore(db);
  const chain = { projectId: 'p1', customerId: 'c1', feature: 'api_requests' };
  const request = (expiresInMs: number) => ({
    chain,
    terms: { allowance: 100, lots: [], now: now() },
    amount: 40,
    periodEnd: new Date(clock.ms + 86_400_000),
    expiresAt: new Date(clock.ms + expiresInMs),
    idempotencyKey: 'job-1',
    refuseOverage: true,
    fingerprint: 'same',
  });
  const crashed = new ReservationService({ ledger: dying, once, reservations });
  await t.throwsAsync(crashed.hold(request(60_000)), { message: 'process died' });
  clock.ms += 10_001;
  const retried = new ReservationService({ ledger, once, reservations });
  const held = await retried.hold(request(120_000));
  const holds = await db
    .collection<UsageEntryDoc>('usage_ledger')
    .find({ customer_id: 'c1', kind: 'hold' })
    .toArray();
  t.is(holds.length, 1);
  t.is(holds[0]?.reservation_id, held.reservationId);
  // The first attempt's expiry stands: the retry did not make a new reservation.
  t.is(held.expiresAt.getTime(), clock.ms - 10_001 + 60_000);
  t.deepEqual(
    (await ledger.state(chain)).holds.map((h) => h.id),
    [held.reservationId],
  );
});
