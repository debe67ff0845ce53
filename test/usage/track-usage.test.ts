// needs: mongodb redis
/**
 * TrackUsage end to end: usage shows in CheckEntitlement (usage, balance,
 * resets_at, requested_amount), enforce refuses what the balance does not
 * cover and records nothing, a renewal starts a new period at 0 while late
 * usage counts in the old one, and bad input records nothing.
 */
import { timestampDate, timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code } from '@connectrpc/connect';
import test from 'ava';
import { DenialReason } from '../../gen/billing/v1/entitlements_pb.js';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import { codeOf } from '../helpers/rpc.js';
import { nowSeconds } from '../helpers/stripe-objects.js';
import {
  ledgerEntries,
  postMeteredSubscription,
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

const check = (customerId: string, feature: string, requestedAmount?: bigint) =>
  h.entitlements.checkEntitlement({ customerId, feature, requestedAmount }, h.auth);

const track = (
  customerId: string,
  amount: bigint,
  key: string,
  extra: { enforce?: boolean; occurredAtMs?: number; feature?: string } = {},
) =>
  h.entitlements.trackUsage(
    {
      customerId,
      feature: extra.feature ?? 'api_requests',
      amount,
      idempotencyKey: key,
      enforce: extra.enforce ?? false,
      occurredAt:
        extra.occurredAtMs === undefined ? undefined : timestampFromMs(extra.occurredAtMs),
    },
    h.auth,
  );

test('a tracked usage shows in CheckEntitlement: usage, balance and resets_at', async (t) => {
  const start = nowSeconds() - 3600;
  await subscribeMetered(h, 'u-show', { period: { start, end: start + 30 * 86400 } });
  const before = await check('u-show', 'api_requests');
  t.true(before.entitlement?.allowed);
  t.is(before.entitlement?.usage, 0n);
  t.is(before.entitlement?.balance, 100n);
  const answer = await track('u-show', 30n, 'k-show-1');
  t.regex(answer.usageId, /^usg_/);
  t.is(answer.entitlement?.usage, 30n);
  t.is(answer.entitlement?.balance, 70n);
  const after = await check('u-show', 'api_requests');
  t.is(after.entitlement?.usage, 30n);
  t.is(after.entitlement?.balance, 70n);
  const resetsAt = after.entitlement?.resetsAt;
  t.is(resetsAt && timestampDate(resetsAt).getTime(), (start + 30 * 86400) * 1000);
  const listed = await h.entitlements.listEntitlements({ customerId: 'u-show' }, h.auth);
  t.is(listed.entitlements.find((e) => e.feature === 'api_requests')?.balance, 70n);
});

test('requested_amount decides a check under block: INSUFFICIENT_BALANCE past the balance', async (t) => {
  await subscribeMetered(h, 'u-req');
  await track('u-req', 90n, 'k-req-1');
  const fits = await check('u-req', 'api_requests', 10n);
  t.true(fits.entitlement?.allowed);
  const over = await check('u-req', 'api_requests', 11n);
  t.false(over.entitlement?.allowed);
  t.is(over.entitlement?.denialReason, DenialReason.INSUFFICIENT_BALANCE);
  t.is(await codeOf(check('u-req', 'api_requests', 0n)), Code.InvalidArgument);
});

test('overage allow: usage past the allowance is recorded and checks stay allowed', async (t) => {
  await subscribeMetered(h, 'u-allow', { quantity: 2 });
  const answer = await track('u-allow', 25n, 'k-allow-1', { feature: 'ai_tokens', enforce: false });
  t.is(answer.entitlement?.usage, 25n);
  t.is(answer.entitlement?.balance, 0n);
  t.true((await check('u-allow', 'ai_tokens', 5n)).entitlement?.allowed);
});

test('enforce refuses overage only under block: under allow the usage is recorded as overage', async (t) => {
  await subscribeMetered(h, 'u-enf-allow');
  const answer = await track('u-enf-allow', 15n, 'k-enf-allow-1', {
    feature: 'ai_tokens',
    enforce: true,
  });
  t.like(answer.entitlement, { usage: 15n, balance: 0n });
});

test('occurred_at more than 35 days back is refused (Stripe meters accept 35 days); 34 days back counts', async (t) => {
  await subscribeMetered(h, 'u-late');
  const dayMs = 86_400_000;
  const late = track('u-late', 1n, 'k-late-1', { occurredAtMs: Date.now() - 36 * dayMs });
  t.is(await codeOf(late), Code.InvalidArgument);
  t.deepEqual(await ledgerEntries(h.server.config.mongodbDatabase, 'u-late'), []);
  await track('u-late', 2n, 'k-late-2', { occurredAtMs: Date.now() - 34 * dayMs });
  t.is(sumOf(await ledgerEntries(h.server.config.mongodbDatabase, 'u-late')), 2);
});

test('enforce refuses what the balance does not cover, with the balance in the message, and records nothing', async (t) => {
  await subscribeMetered(h, 'u-enf');
  await track('u-enf', 95n, 'k-enf-1', { enforce: true });
  const refused = await track('u-enf', 6n, 'k-enf-2', { enforce: true }).catch((e: unknown) => e);
  t.like(refused, { code: Code.FailedPrecondition });
  t.regex(String(refused), /balance of api_requests is 5/);
  t.is(sumOf(await ledgerEntries(h.server.config.mongodbDatabase, 'u-enf')), 95);
  // The refused key was not used up: the same key succeeds once the amount fits.
  t.is((await track('u-enf', 5n, 'k-enf-2', { enforce: true })).entitlement?.balance, 0n);
  // Without enforce, usage that happened is recorded even past the allowance.
  t.is((await track('u-enf', 3n, 'k-enf-3')).entitlement?.usage, 103n);
});

test('an enforced track retried with its key near the limit answers the stored usage id, not a refusal', async (t) => {
  await subscribeMetered(h, 'u-retry');
  const first = await track('u-retry', 60n, 'k-retry-1', { enforce: true });
  // Now 40 are left: the same 60 again would be refused, but it is the same usage.
  const again = await track('u-retry', 60n, 'k-retry-1', { enforce: true });
  t.is(again.usageId, first.usageId);
  t.is(again.entitlement?.balance, 40n);
  t.is(sumOf(await ledgerEntries(h.server.config.mongodbDatabase, 'u-retry')), 60);
  // Another key asking as much is refused: the balance binds.
  t.is(
    await codeOf(track('u-retry', 60n, 'k-retry-2', { enforce: true })),
    Code.FailedPrecondition,
  );
});

test('a renewal starts the new period at 0; usage that occurred before it counts in the old period', async (t) => {
  const oldStart = nowSeconds() - 20 * 86400;
  const renewal = nowSeconds() - 3600;
  const customer = await h.linkCustomer('u-renew');
  const subId = await postMeteredSubscription(h, customer, {
    period: { start: oldStart, end: renewal },
    created: nowSeconds() - 10,
  });
  await track('u-renew', 40n, 'k-renew-1', { occurredAtMs: (renewal - 60) * 1000 });
  await postMeteredSubscription(
    h,
    customer,
    { id: subId, period: { start: renewal, end: renewal + 30 * 86400 } },
    'customer.subscription.updated',
  );
  const renewed = await check('u-renew', 'api_requests');
  t.is(renewed.entitlement?.usage, 0n);
  t.is(renewed.entitlement?.balance, 100n);
  // Late usage of the old period: counted there, not in the new one.
  await track('u-renew', 7n, 'k-renew-2', { occurredAtMs: (renewal - 30) * 1000 });
  await track('u-renew', 2n, 'k-renew-3');
  t.is((await check('u-renew', 'api_requests')).entitlement?.usage, 2n);
  const entries = await ledgerEntries(h.server.config.mongodbDatabase, 'u-renew');
  const old = entries.filter((e) => e.period_end.getTime() === renewal * 1000);
  t.is(sumOf(old), 47);
});

test('bad input answers a clear code and records nothing', async (t) => {
  await subscribeMetered(h, 'u-bad');
  const cases: Array<[string, Promise<unknown>, Code]> = [
    ['zero amount', track('u-bad', 0n, 'k-bad-1'), Code.InvalidArgument],
    ['negative amount', track('u-bad', -5n, 'k-bad-2'), Code.InvalidArgument],
    ['huge amount', track('u-bad', 1_000_000_001n, 'k-bad-3'), Code.InvalidArgument],
    ['missing key', track('u-bad', 1n, ''), Code.InvalidArgument],
    ['unknown feature', track('u-bad', 1n, 'k-bad-4', { feature: 'nope' }), Code.NotFound],
    [
      'non-metered feature',
      track('u-bad', 1n, 'k-bad-5', { feature: 'reports' }),
      Code.FailedPrecondition,
    ],
    [
      'far ahead',
      track('u-bad', 1n, 'k-bad-6', { occurredAtMs: Date.now() + 10 * 60_000 }),
      Code.InvalidArgument,
    ],
    [
      'past the balance',
      track('u-bad', 101n, 'k-bad-7', { enforce: true }),
      Code.FailedPrecondition,
    ],
  ];
  for (const [name, call, code] of cases) t.is(await codeOf(call), code, name);
  t.deepEqual(await ledgerEntries(h.server.config.mongodbDatabase, 'u-bad'), []);
  t.is((await check('u-bad', 'api_requests')).entitlement?.usage, 0n);
});
