// needs: mongodb redis
/**
 * ReserveUsage, CommitReservation and ReleaseReservation end to end: a hold
 * lowers the balance at once and shows as reserved; a commit records the
 * final amount, once; a release gives the amount back; an expired
 * reservation releases itself without any call; every way to end a
 * reservation twice answers clearly; bad input records and holds nothing.
 */
import { Code, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { EntitlementsService } from '../../gen/billing/v1/entitlements_pb.js';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import { codeOf } from '../helpers/rpc.js';
import { waitFor } from '../helpers/wait.js';
import {
  holdEntries,
  ledgerEntries,
  subscribeMetered,
  sumOf,
  usageCatalog,
} from './usage-world.js';

let h: BillingHarness;

test.before(async () => {
  h = await startBillingHarness({ catalog: usageCatalog });
});

test.after.always(async () => {
  await h?.close();
});

const check = async (customerId: string, feature = 'api_requests') =>
  (await h.entitlements.checkEntitlement({ customerId, feature }, h.auth)).entitlement;

const reserve = (
  customerId: string,
  amount: bigint,
  key: string,
  extra: { ttlSeconds?: bigint; ttlNanos?: number; feature?: string } = {},
) =>
  h.entitlements.reserveUsage(
    {
      customerId,
      feature: extra.feature ?? 'api_requests',
      amount,
      idempotencyKey: key,
      ttl:
        extra.ttlSeconds === undefined
          ? undefined
          : { seconds: extra.ttlSeconds, nanos: extra.ttlNanos ?? 0 },
    },
    h.auth,
  );

const commit = (customerId: string, reservationId: string, finalAmount?: bigint) =>
  h.entitlements.commitReservation({ customerId, reservationId, finalAmount }, h.auth);

const release = (customerId: string, reservationId: string) =>
  h.entitlements.releaseReservation({ customerId, reservationId }, h.auth);

const database = () => h.server.config.mongodbDatabase;

test('a reservation lowers the balance at once; its commit records the final amount and gives the rest back', async (t) => {
  await subscribeMetered(h, 'r-commit');
  const started = Date.now();
  const held = await reserve('r-commit', 30n, 'rc-1');
  t.regex(held.reservationId, /^rsv_[0-9a-f]{32}$/);
  const expiresAt = Number(held.expiresAt?.seconds ?? 0n) * 1000;
  // The default ttl is 5 minutes.
  t.true(expiresAt >= started + 299_000 && expiresAt <= Date.now() + 301_000);
  t.like(held.entitlement, { usage: 0n, balance: 70n, reserved: 30n, credits: 0n });
  t.like(await check('r-commit'), { usage: 0n, balance: 70n, reserved: 30n });
  const committed = await commit('r-commit', held.reservationId, 12n);
  t.regex(committed.usageId, /^usg_/);
  t.like(committed.entitlement, { usage: 12n, balance: 88n, reserved: 0n });
  t.like(await check('r-commit'), { usage: 12n, balance: 88n, reserved: 0n });
  // The same commit again answers the first one; nothing more is recorded.
  t.is((await commit('r-commit', held.reservationId, 12n)).usageId, committed.usageId);
  t.is(sumOf(await ledgerEntries(database(), 'r-commit')), 12);
  t.is(await codeOf(commit('r-commit', held.reservationId, 11n)), Code.FailedPrecondition);
  t.is(await codeOf(release('r-commit', held.reservationId)), Code.FailedPrecondition);
  t.like(await check('r-commit'), { usage: 12n, balance: 88n });
});

test('a commit without final_amount records the amount held; with 0 it records nothing and answers no usage id', async (t) => {
  await subscribeMetered(h, 'r-final');
  const whole = await reserve('r-final', 9n, 'rf-1');
  t.like((await commit('r-final', whole.reservationId)).entitlement, { usage: 9n, balance: 91n });
  const nothing = await reserve('r-final', 5n, 'rf-2');
  const zero = await commit('r-final', nothing.reservationId, 0n);
  t.is(zero.usageId, '');
  t.like(zero.entitlement, { usage: 9n, balance: 91n, reserved: 0n });
  t.is(sumOf(await ledgerEntries(database(), 'r-final')), 9);
});

test('a release gives the amount back; releasing again is a no-op; a commit after it is refused', async (t) => {
  await subscribeMetered(h, 'r-release');
  const held = await reserve('r-release', 40n, 'rr-1');
  t.like((await release('r-release', held.reservationId)).entitlement, {
    usage: 0n,
    balance: 100n,
    reserved: 0n,
  });
  t.like((await release('r-release', held.reservationId)).entitlement, { balance: 100n });
  t.is(await codeOf(commit('r-release', held.reservationId, 1n)), Code.FailedPrecondition);
  t.is(sumOf(await ledgerEntries(database(), 'r-release')), 0);
});

test('under block a reservation the balance does not cover is refused with the balance, and nothing is held', async (t) => {
  await subscribeMetered(h, 'r-block');
  await reserve('r-block', 60n, 'rb-1');
  const refused = await reserve('r-block', 41n, 'rb-2').catch((e: unknown) => e);
  t.like(refused, { code: Code.FailedPrecondition });
  t.regex(String(refused), /balance of api_requests is 40/);
  t.is((await holdEntries(database(), 'r-block')).length, 1);
  // A track under enforce sees the hold too.
  const track = h.entitlements.trackUsage(
    {
      customerId: 'r-block',
      feature: 'api_requests',
      amount: 41n,
      idempotencyKey: 'rb-3',
      enforce: true,
    },
    h.auth,
  );
  t.is(await codeOf(track), Code.FailedPrecondition);
  t.like(await check('r-block'), { balance: 40n, reserved: 60n });
  // The refused key was not used up: it reserves once the amount fits.
  t.like((await reserve('r-block', 40n, 'rb-2')).entitlement, { balance: 0n, reserved: 100n });
});

test('under allow a reservation past the allowance is held, and its commit is recorded as overage', async (t) => {
  await subscribeMetered(h, 'r-allow');
  const held = await reserve('r-allow', 25n, 'ra-1', { feature: 'ai_tokens' });
  t.like(held.entitlement, { balance: 0n, reserved: 25n });
  t.like((await commit('r-allow', held.reservationId)).entitlement, { usage: 25n, balance: 0n });
});

test('under allow a commit above the amount held records it all (the rest as usage like any other); under block it is INVALID_ARGUMENT', async (t) => {
  await subscribeMetered(h, 'r-above', { quantity: 2 });
  const held = await reserve('r-above', 5n, 'rab-1', { feature: 'ai_tokens' });
  const committed = await commit('r-above', held.reservationId, 30n);
  t.like(committed.entitlement, { usage: 30n, balance: 0n, reserved: 0n });
  t.is(sumOf(await ledgerEntries(database(), 'r-above')), 30);
  const blocked = await reserve('r-above', 5n, 'rab-2');
  const refused = await commit('r-above', blocked.reservationId, 6n).catch((e: unknown) => e);
  t.like(refused, { code: Code.InvalidArgument });
  t.regex(String(refused), /at most the amount held, 5/);
  t.like(await check('r-above'), { usage: 0n, balance: 95n, reserved: 5n });
});

test('the same idempotency key answers the same reservation and holds once', async (t) => {
  await subscribeMetered(h, 'r-once');
  const first = await reserve('r-once', 10n, 'ro-1');
  const again = await reserve('r-once', 10n, 'ro-1');
  t.is(again.reservationId, first.reservationId);
  t.deepEqual(again.expiresAt, first.expiresAt);
  t.like(await check('r-once'), { balance: 90n, reserved: 10n });
  t.is(await codeOf(reserve('r-once', 11n, 'ro-1')), Code.InvalidArgument);
});

test('a ReserveUsage retried when the balance no longer covers it still answers its reservation', async (t) => {
  await subscribeMetered(h, 'r-late');
  const first = await reserve('r-late', 70n, 'rl-1');
  // 30 left: a new reservation of 70 is refused, the same one answers.
  t.is(await codeOf(reserve('r-late', 70n, 'rl-2')), Code.FailedPrecondition);
  const again = await reserve('r-late', 70n, 'rl-1');
  t.is(again.reservationId, first.reservationId);
  t.deepEqual(again.expiresAt, first.expiresAt);
  t.like(await check('r-late'), { balance: 30n, reserved: 70n });
  t.is((await holdEntries(database(), 'r-late')).length, 1);
});

test('an expired reservation releases itself without any call; its commit is then refused', async (t) => {
  await subscribeMetered(h, 'r-expire');
  const held = await reserve('r-expire', 70n, 're-1', { ttlSeconds: 1n });
  t.like(held.entitlement, { balance: 30n, reserved: 70n });
  const back = await waitFor(() => check('r-expire'), {
    what: 'the expired reservation to give its 70 back',
    until: (e) => e?.balance === 100n,
  });
  t.like(back, { usage: 0n, reserved: 0n });
  t.is(await codeOf(commit('r-expire', held.reservationId, 70n)), Code.FailedPrecondition);
  // Releasing what expired changes nothing.
  t.like((await release('r-expire', held.reservationId)).entitlement, { balance: 100n });
  t.is(sumOf(await ledgerEntries(database(), 'r-expire')), 0);
});

test('a reservation of another customer or another project is not found, and stays held', async (t) => {
  await subscribeMetered(h, 'r-mine');
  await subscribeMetered(h, 'r-other');
  const held = await reserve('r-mine', 20n, 'rm-1');
  t.is(await codeOf(commit('r-other', held.reservationId, 1n)), Code.NotFound);
  t.is(await codeOf(release('r-other', held.reservationId)), Code.NotFound);
  const other = await h.addProject('another project');
  const otherClient = createClient(
    EntitlementsService,
    createConnectTransport({ baseUrl: h.server.baseUrl, httpVersion: '1.1' }),
  );
  const otherAuth = { headers: { authorization: `Bearer ${other.adminKey}` } };
  const ref = { customerId: 'r-mine', reservationId: held.reservationId };
  t.is(await codeOf(otherClient.commitReservation(ref, otherAuth)), Code.NotFound);
  t.is(await codeOf(otherClient.releaseReservation(ref, otherAuth)), Code.NotFound);
  t.like(await check('r-mine'), { balance: 80n, reserved: 20n });
  t.is(sumOf(await ledgerEntries(database(), 'r-mine')), 0);
});

test('bad input answers a clear code and records and holds nothing', async (t) => {
  await subscribeMetered(h, 'r-bad');
  const rsv = `rsv_${'0'.repeat(32)}`;
  const cases: Array<[string, () => Promise<unknown>, Code]> = [
    ['zero amount', () => reserve('r-bad', 0n, 'x-1'), Code.InvalidArgument],
    ['negative amount', () => reserve('r-bad', -3n, 'x-2'), Code.InvalidArgument],
    ['huge amount', () => reserve('r-bad', 1_000_000_001n, 'x-3'), Code.InvalidArgument],
    ['no idempotency key', () => reserve('r-bad', 1n, ''), Code.InvalidArgument],
    ['ttl 0', () => reserve('r-bad', 1n, 'x-4', { ttlSeconds: 0n }), Code.InvalidArgument],
    [
      'ttl over 24 h',
      () => reserve('r-bad', 1n, 'x-5', { ttlSeconds: 86_401n }),
      Code.InvalidArgument,
    ],
    [
      'ttl with nanos',
      () => reserve('r-bad', 1n, 'x-6', { ttlSeconds: 1n, ttlNanos: 5 }),
      Code.InvalidArgument,
    ],
    ['unknown feature', () => reserve('r-bad', 1n, 'x-7', { feature: 'nope' }), Code.NotFound],
    [
      'non-metered feature',
      () => reserve('r-bad', 1n, 'x-8', { feature: 'reports' }),
      Code.FailedPrecondition,
    ],
    ['past the balance', () => reserve('r-bad', 101n, 'x-9'), Code.FailedPrecondition],
    ['malformed reservation id', () => commit('r-bad', 'rsv_nope', 1n), Code.InvalidArgument],
    ['empty reservation id', () => release('r-bad', ''), Code.InvalidArgument],
    ['unknown reservation', () => commit('r-bad', rsv, 1n), Code.NotFound],
    ['unknown reservation released', () => release('r-bad', rsv), Code.NotFound],
  ];
  for (const [name, call, code] of cases) t.is(await codeOf(call()), code, name);
  t.deepEqual(await ledgerEntries(database(), 'r-bad'), []);
  const held = await reserve('r-bad', 5n, 'x-10');
  t.is(await codeOf(commit('r-bad', held.reservationId, 6n)), Code.InvalidArgument, 'over held');
  t.is(await codeOf(commit('r-bad', held.reservationId, -1n)), Code.InvalidArgument, 'negative');
  // The right feature hash and seq with another random part: nobody made it.
  const last = held.reservationId.slice(-1);
  const forged = `${held.reservationId.slice(0, -1)}${last === '0' ? '1' : '0'}`;
  t.is(await codeOf(commit('r-bad', forged, 1n)), Code.NotFound, 'forged');
  t.is(await codeOf(release('r-bad', forged)), Code.NotFound, 'forged release');
  t.like(await check('r-bad'), { usage: 0n, balance: 95n, reserved: 5n });
  t.is(sumOf(await ledgerEntries(database(), 'r-bad')), 0);
});
