// needs: mongodb redis
/**
 * Credits end to end: a grant gives a metered feature at once (source
 * CREDITS), revocation and expiry take it away, every write is audited and
 * idempotent, ids stay inside their project, bad input stores nothing; a
 * credit pack bought by webhook lists with amount per unit x quantity and
 * its expiry, and a refund ends it.
 */
import { timestampDate, timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { AdminService, CreditSource } from '../../gen/billing/v1/admin_pb.js';
import { CheckoutMode } from '../../gen/billing/v1/checkout_pb.js';
import {
  DenialReason,
  EntitlementSourceKind,
  WatchEventKind,
} from '../../gen/billing/v1/entitlements_pb.js';
import type { CatalogEntryDoc, CatalogFeatureDoc } from '../../src/store/documents.js';
import {
  type BillingHarness,
  defaultCatalog,
  startBillingHarness,
} from '../helpers/billing-harness.js';
import { codeOf } from '../helpers/rpc.js';
import { makeCharge, makeEvent } from '../helpers/stripe-objects.js';

const day = 24 * 3600 * 1000;

// Overage `allow`: a check is allowed whenever a source gives the feature,
// whatever the balance says (the ledger counts credits in it).
const tokens = (credit_pack: CatalogFeatureDoc['credit_pack'], allowance: number) => ({
  feature: 'tokens',
  limit: null,
  limit_per_unit: false,
  kind: 'metered' as const,
  metered: {
    allowance,
    allowance_per_unit: false,
    reset: 'billing_period' as const,
    overage: 'allow' as const,
    stripe_meter_event_name: null,
  },
  credit_pack,
});

const catalog: CatalogEntryDoc[] = [
  ...defaultCatalog,
  { stripe_id: 'price_tokens_plan', features: [tokens(null, 1000)] },
  {
    stripe_id: 'price_tokens_pack',
    features: [tokens({ amount_per_unit: 250, expires_after_days: 30 }, 0)],
  },
];

let h: BillingHarness;

test.before(async () => {
  h = await startBillingHarness({ catalog });
  h.fake.seedPrice(
    { id: 'price_tokens_pack', product: 'prod_tokens', unit_amount: 500, recurring: null },
    h.project.stripeSecretKey,
  );
});

test.after.always(async () => {
  await h?.close();
});

const admin = () =>
  createClient(
    AdminService,
    createConnectTransport({ baseUrl: h.server.baseUrl, httpVersion: '1.1' }),
  );

const check = async (customerId: string) => {
  const answer = await h.entitlements.checkEntitlement({ customerId, feature: 'tokens' }, h.auth);
  if (!answer.entitlement) throw new Error('no entitlement in the answer');
  return answer.entitlement;
};

const grantTokens = (customerId: string, more: { expiresAtMs?: number; key?: string } = {}) =>
  admin().grantCredits(
    {
      customerId,
      feature: 'tokens',
      amount: 500n,
      reason: 'goodwill, ticket 9',
      expiresAt: more.expiresAtMs === undefined ? undefined : timestampFromMs(more.expiresAtMs),
      idempotencyKey: more.key ?? '',
    },
    h.auth,
  );

test('a grant gives a metered feature at once, with source CREDITS; revoking takes it away', async (t) => {
  t.false((await check('cr-user')).allowed, 'nothing before the grant');
  const { credit } = await grantTokens('cr-user');
  t.regex(credit?.id ?? '', /^crd_/);
  t.like(credit, { amount: 500n, remaining: 500n, actor: h.project.adminKeyId });
  const granted = await check('cr-user');
  t.true(granted.allowed);
  t.deepEqual(
    granted.sources.map((s) => [s.kind, s.id]),
    [[EntitlementSourceKind.CREDITS, credit?.id]],
  );
  const revoked = await admin().revokeCredits(
    { creditId: credit?.id ?? '', reason: 'granted by mistake' },
    h.auth,
  );
  t.like(revoked.credit, { remaining: 0n, revokedBy: h.project.adminKeyId });
  const after = await check('cr-user');
  t.false(after.allowed);
  t.is(after.denialReason, DenialReason.NO_SOURCE);
  const listed = await admin().listCredits({ customerId: 'cr-user' }, h.auth);
  t.deepEqual(listed.credits, [], 'a revoked lot is ended');
  const all = await admin().listCredits({ customerId: 'cr-user', includeEnded: true }, h.auth);
  t.deepEqual(
    all.credits.map((c) => [c.id, c.revokeReason]),
    [[credit?.id, 'granted by mistake']],
  );
});

// Serial (ava runs these before the others): it moves the test clock an hour
// on, and the other tests read business time from h.now().
test.serial('credits stop at their expiry without any call', async (t) => {
  const expiresAtMs = h.now().getTime() + 3_600_000;
  const { credit } = await grantTokens('cr-expiring', { expiresAtMs });
  const granted = await check('cr-expiring');
  t.true(granted.allowed);
  const validUntil = granted.validUntil && timestampDate(granted.validUntil).getTime();
  t.is(validUntil, expiresAtMs, 'the answer changes at the expiry');
  // The answer held in every cache is still the granted one; time alone ends it.
  t.true((await check('cr-expiring')).allowed);
  h.fake.advance(3601);
  const expired = await check('cr-expiring');
  t.false(expired.allowed);
  t.is(expired.denialReason, DenialReason.NO_SOURCE);
  const all = await admin().listCredits({ customerId: 'cr-expiring', includeEnded: true }, h.auth);
  t.like(all.credits[0], { id: credit?.id, remaining: 0n });
});

test('grants and revocations are audited with actor, reason, before and after', async (t) => {
  const { credit } = await grantTokens('cr-audit');
  const id = credit?.id ?? '';
  await admin().revokeCredits({ creditId: id, reason: 'audit check' }, h.auth);
  const { entries } = await admin().listAuditLog({ target: `credit:${id}` }, h.auth);
  t.deepEqual(
    entries.map((e) => [e.action, e.actor, e.reason]),
    [
      ['credit.revoke', h.project.adminKeyId, 'audit check'],
      ['credit.grant', h.project.adminKeyId, 'goodwill, ticket 9'],
    ],
  );
  const [revoke, grant] = entries;
  t.is(grant?.beforeJson, '');
  t.like(JSON.parse(grant?.afterJson ?? '{}'), { id, amount: 500, customer_id: 'cr-audit' });
  t.like(JSON.parse(revoke?.beforeJson ?? '{}'), { id, revoked_at: null });
  t.like(JSON.parse(revoke?.afterJson ?? '{}'), { id, revoke_reason: 'audit check' });
});

test('retries with the idempotency key grant once; concurrent revokes revoke once', async (t) => {
  const first = await grantTokens('cr-retry', { key: 'credit-retry-1' });
  const again = await grantTokens('cr-retry', { key: 'credit-retry-1' });
  t.is(again.credit?.id, first.credit?.id);
  const listed = await admin().listCredits({ customerId: 'cr-retry' }, h.auth);
  t.is(listed.credits.length, 1);
  const id = first.credit?.id ?? '';
  const revokes = await Promise.all(
    ['one', 'two', 'three'].map((reason) =>
      admin().revokeCredits({ creditId: id, reason }, h.auth),
    ),
  );
  const revokedWith = revokes.map((r) => r.credit?.revokeReason);
  t.is(new Set(revokedWith).size, 1, `every caller sees the one revocation: ${revokedWith}`);
  const { entries } = await admin().listAuditLog({ target: `credit:${id}` }, h.auth);
  t.deepEqual(
    entries.map((e) => e.action),
    ['credit.revoke', 'credit.grant'],
  );
});

test("another project's credit id is NOT_FOUND and stays in force", async (t) => {
  const other = await h.addProject('credits other');
  const otherAuth = { headers: { authorization: `Bearer ${other.adminKey}` } };
  await h.server.app.projects.setCatalog(other.projectId, catalog, 'test', 'catalog');
  const { credit } = await admin().grantCredits(
    { customerId: 'cr-x', feature: 'tokens', amount: 5n, reason: 'r' },
    otherAuth,
  );
  const id = credit?.id ?? '';
  t.is(
    await codeOf(admin().revokeCredits({ creditId: id, reason: 'attack' }, h.auth)),
    Code.NotFound,
  );
  const mine = await admin().listCredits({ customerId: 'cr-x', includeEnded: true }, h.auth);
  t.deepEqual(mine.credits, []);
  const theirs = await admin().listCredits({ customerId: 'cr-x' }, otherAuth);
  t.like(theirs.credits[0], { id, remaining: 5n });
});

test('bad grants answer a clear code and store nothing', async (t) => {
  const base = { customerId: 'cr-bad', feature: 'tokens', amount: 5n, reason: 'r' };
  const bad: Array<[Record<string, unknown>, Code]> = [
    [{ amount: 0n }, Code.InvalidArgument],
    [{ amount: -3n }, Code.InvalidArgument],
    [{ amount: 1_000_000_001n }, Code.InvalidArgument],
    [{ reason: '' }, Code.InvalidArgument],
    [{ expiresAt: timestampFromMs(Date.now() - 1000) }, Code.InvalidArgument],
    [{ feature: 'no_such_feature' }, Code.NotFound],
    [{ feature: 'reports' }, Code.FailedPrecondition],
  ];
  for (const [change, code] of bad) {
    t.is(await codeOf(admin().grantCredits({ ...base, ...change }, h.auth)), code);
  }
  const all = await admin().listCredits({ customerId: 'cr-bad', includeEnded: true }, h.auth);
  t.deepEqual(all.credits, []);
  const audit = await admin().listAuditLog({ action: 'credit.grant', pageSize: 500 }, h.auth);
  t.false(audit.entries.some((e) => e.afterJson.includes('cr-bad')));
});

/** A completed one-time checkout of `quantity` credit packs, and a full refund of it. */
async function buyPacks(customerId: string, quantity: bigint, paymentStatus?: 'unpaid') {
  const started = await h.checkout.createCheckoutSession(
    {
      customerId,
      mode: CheckoutMode.PAYMENT,
      lineItems: [{ priceId: 'price_tokens_pack', quantity }],
      successUrl: 'https://app.example/ok',
      cancelUrl: 'https://app.example/cancel',
    },
    h.auth,
  );
  const { session } = h.fake.completeCheckoutSession(started.sessionId, {
    apiKey: h.project.stripeSecretKey,
    ...(paymentStatus ? { payment_status: paymentStatus } : {}),
  });
  const refund = makeEvent({
    type: 'charge.refunded',
    object: makeCharge({
      payment_intent: String(session.payment_intent),
      customer: started.stripeCustomerId,
      amount: 1500,
      amount_refunded: 1500,
    }),
  });
  return {
    session,
    completed: makeEvent({ type: 'checkout.session.completed', object: session }),
    refund,
  };
}

test('a credit pack bought in a checkout lists amount per unit x quantity and expires 30 days after payment; a refund ends it', async (t) => {
  const { session, completed, refund } = await buyPacks('cr-buyer', 3n);
  const before = h.now().getTime();
  t.is((await h.post(completed)).body.outcome, 'processed');
  const after = h.now().getTime();
  const listed = await admin().listCredits({ customerId: 'cr-buyer' }, h.auth);
  const [pack] = listed.credits;
  t.like(pack, {
    id: `${session.id}:price_tokens_pack:tokens`,
    source: CreditSource.PACK,
    feature: 'tokens',
    amount: 750n,
    remaining: 750n,
  });
  const expiresAt = pack?.expiresAt ? timestampDate(pack.expiresAt).getTime() : 0;
  t.true(expiresAt >= before + 30 * day - 1000 && expiresAt <= after + 30 * day, 'paid + 30 days');
  const bought = await check('cr-buyer');
  t.true(bought.allowed);
  t.deepEqual(
    bought.sources.map((s) => [s.kind, s.id]),
    [[EntitlementSourceKind.CREDITS, pack?.id]],
    'credits only: a pack gives no purchase source',
  );
  t.is(
    await codeOf(admin().revokeCredits({ creditId: pack?.id ?? '', reason: 'no' }, h.auth)),
    Code.FailedPrecondition,
  );

  t.is((await h.post(refund)).body.outcome, 'processed');
  t.deepEqual((await admin().listCredits({ customerId: 'cr-buyer' }, h.auth)).credits, []);
  const ended = await admin().listCredits({ customerId: 'cr-buyer', includeEnded: true }, h.auth);
  t.like(ended.credits[0], { id: pack?.id, remaining: 0n });
  t.truthy(ended.credits[0]?.revokedAt, 'refunded');
  t.false((await check('cr-buyer')).allowed);
});

test('a duplicate delivery of the checkout gives the pack once', async (t) => {
  const { completed } = await buyPacks('cr-dup', 1n);
  await h.post(completed);
  t.is((await h.post(completed)).body.outcome, 'duplicate');
  const listed = await admin().listCredits({ customerId: 'cr-dup' }, h.auth);
  t.deepEqual(
    listed.credits.map((c) => c.amount),
    [250n],
  );
});

test('a pack paid by a delayed method gives its credits once the payment succeeds', async (t) => {
  const { session, completed } = await buyPacks('cr-async', 2n, 'unpaid');
  await h.post(completed);
  const unpaid = await admin().listCredits({ customerId: 'cr-async', includeEnded: true }, h.auth);
  t.deepEqual(unpaid.credits, [], 'nothing before the payment');
  const paid = { ...session, payment_status: 'paid' as const };
  await h.post(makeEvent({ type: 'checkout.session.async_payment_succeeded', object: paid }));
  const listed = await admin().listCredits({ customerId: 'cr-async' }, h.auth);
  t.like(listed.credits[0], { id: `${session.id}:price_tokens_pack:tokens`, amount: 500n });
  t.true((await check('cr-async')).allowed);
});

test('a watch stream gets the grant and the revocation as changes', async (t) => {
  const abort = new AbortController();
  const stream = h.entitlements
    .watchEntitlements({ customerId: 'cr-watch' }, { ...h.auth, signal: abort.signal })
    [Symbol.asyncIterator]();
  const next = async () => {
    for (;;) {
      const message = await stream.next();
      if (message.done) throw new Error('stream ended');
      if (message.value.kind !== WatchEventKind.HEARTBEAT) return message.value;
    }
  };
  t.deepEqual((await next()).entitlements, [], 'the snapshot');
  const { credit } = await grantTokens('cr-watch');
  const granted = await next();
  t.deepEqual(
    granted.entitlements.map((e) => [e.feature, e.sources[0]?.kind]),
    [['tokens', EntitlementSourceKind.CREDITS]],
  );
  await admin().revokeCredits({ creditId: credit?.id ?? '', reason: 'r' }, h.auth);
  t.deepEqual((await next()).entitlements, []);
  abort.abort();
});
