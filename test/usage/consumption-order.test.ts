// needs: mongodb redis
/**
 * The consumption order end to end, through the RPCs: a usage takes the
 * period's allowance first, then credit lots by earliest expiry, then the
 * lots that never expire; under `block` the balance (allowance left plus
 * credits left) is exact, also for a customer whose only source is credits.
 */
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { AdminService } from '../../gen/billing/v1/admin_pb.js';
import { DenialReason, EntitlementSourceKind } from '../../gen/billing/v1/entitlements_pb.js';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import { codeOf } from '../helpers/rpc.js';
import { nowSeconds } from '../helpers/stripe-objects.js';
import { subscribeMetered, usageCatalog } from './usage-world.js';

const day = 24 * 3600 * 1000;
let h: BillingHarness;

test.before(async () => {
  h = await startBillingHarness({ catalog: usageCatalog });
});

test.after.always(async () => {
  await h?.close();
});

const admin = () =>
  createClient(
    AdminService,
    createConnectTransport({ baseUrl: h.server.baseUrl, httpVersion: '1.1' }),
  );

/** `api_requests`: 100 per period under block (usageCatalog). */
const grant = async (customerId: string, amount: number, expiresInDays: number | null) => {
  const { credit } = await admin().grantCredits(
    {
      customerId,
      feature: 'api_requests',
      amount: BigInt(amount),
      reason: 'consumption order test',
      expiresAt:
        expiresInDays === null ? undefined : timestampFromMs(Date.now() + expiresInDays * day),
    },
    h.auth,
  );
  if (!credit) throw new Error('no credit lot in the answer');
  return credit.id;
};

const track = (customerId: string, amount: number, key: string, enforce = true) =>
  h.entitlements.trackUsage(
    { customerId, feature: 'api_requests', amount: BigInt(amount), idempotencyKey: key, enforce },
    h.auth,
  );

const check = async (customerId: string, requestedAmount?: number) => {
  const answer = await h.entitlements.checkEntitlement(
    {
      customerId,
      feature: 'api_requests',
      requestedAmount: requestedAmount === undefined ? undefined : BigInt(requestedAmount),
    },
    h.auth,
  );
  if (!answer.entitlement) throw new Error('no entitlement in the answer');
  return answer.entitlement;
};

const remainingByLot = async (customerId: string) => {
  const listed = await admin().listCredits({ customerId, includeEnded: true }, h.auth);
  return new Map(listed.credits.map((lot) => [lot.id, lot.remaining]));
};

test('usage takes the allowance, then credits by earliest expiry, then credits without expiry', async (t) => {
  const start = nowSeconds() - 3600;
  await subscribeMetered(h, 'co-user', { period: { start, end: start + 30 * 86400 } });
  const later = await grant('co-user', 30, 10);
  const sooner = await grant('co-user', 20, 5);
  const never = await grant('co-user', 40, null);
  t.like(await check('co-user'), { balance: 190n, credits: 90n, usage: 0n });

  const answer = await track('co-user', 110, 'co-1');
  t.like(answer.entitlement, { usage: 110n, balance: 80n, credits: 80n });
  t.deepEqual(
    await remainingByLot('co-user'),
    new Map([
      [later, 30n],
      [sooner, 10n],
      [never, 40n],
    ]),
    'the allowance went first, then the lot that expires soonest',
  );

  await track('co-user', 25, 'co-2');
  await track('co-user', 30, 'co-3');
  t.deepEqual(
    await remainingByLot('co-user'),
    new Map([
      [later, 0n],
      [sooner, 0n],
      [never, 25n],
    ]),
    'the later lot before the one that never expires',
  );

  t.is(
    await codeOf(track('co-user', 26, 'co-4')),
    Code.FailedPrecondition,
    'one more than the balance is refused',
  );
  t.like(await check('co-user'), { balance: 25n, usage: 165n });
  await track('co-user', 25, 'co-5');
  const spent = await check('co-user', 1);
  t.like(spent, { allowed: false, balance: 0n, denialReason: DenialReason.INSUFFICIENT_BALANCE });
});

test('a customer whose only source is credits has exactly their balance under block', async (t) => {
  const lot = await grant('co-credits-only', 5, null);
  const granted = await check('co-credits-only', 5);
  t.like(granted, { allowed: true, balance: 5n, credits: 5n });
  t.deepEqual(
    granted.sources.map((s) => [s.kind, s.id]),
    [[EntitlementSourceKind.CREDITS, lot]],
  );
  t.like(await check('co-credits-only', 6), {
    allowed: false,
    denialReason: DenialReason.INSUFFICIENT_BALANCE,
  });
  t.is(await codeOf(track('co-credits-only', 6, 'only-1')), Code.FailedPrecondition);
  await track('co-credits-only', 5, 'only-2');
  t.like(await check('co-credits-only'), { balance: 0n, credits: 0n, usage: 5n });
  t.deepEqual(await remainingByLot('co-credits-only'), new Map([[lot, 0n]]));
});
