/**
 * CheckoutService, every RPC in memory and over a port (rpc-harness.ts):
 * the session a product redirects its customer to, idempotent retries, and
 * the refusals of each RPC.
 */
import { Code } from '@connectrpc/connect';
import { CheckoutMode, CheckoutService } from '../../gen/billing/v1/checkout_pb.js';
import { codeOf } from '../helpers/rpc.js';
import { bearer, type RpcRun, rpcTest } from './rpc-harness.js';

const checkout = {
  customerId: 'cust_1',
  mode: CheckoutMode.SUBSCRIPTION,
  lineItems: [{ priceId: 'price_pro', quantity: 3n }],
  successUrl: 'https://app.example.com/paid',
  cancelUrl: 'https://app.example.com/cancel',
};

function setUp(run: RpcRun) {
  return {
    client: run.client(CheckoutService),
    writer: run.world.keys.add('p1', ['checkout:write']),
    reader: run.world.keys.add('p1', ['entitlements:read']),
  };
}

rpcTest('CreateCheckoutSession answers with the Stripe session to redirect to', async (t, run) => {
  const { client, writer } = setUp(run);
  const session = await client.createCheckoutSession(checkout, bearer(writer));
  t.like(session, {
    sessionId: 'cs_test_1',
    url: 'https://checkout.stripe.com/c/pay/cs_test_1',
    stripeCustomerId: 'cus_cust_1',
  });
  t.truthy(session.expiresAt);
  t.like(run.world.checkout.checkouts[0], {
    projectId: 'p1',
    mode: 'subscription',
    lineItems: [{ priceId: 'price_pro', quantity: 3 }],
  });
});

rpcTest('CreateCheckoutSession with an idempotency key runs once per key', async (t, run) => {
  const { client, writer } = setUp(run);
  const request = { ...checkout, idempotencyKey: 'order-42' };
  const first = await client.createCheckoutSession(request, bearer(writer));
  const answerHeaders: Headers[] = [];
  const again = await client.createCheckoutSession(request, {
    ...bearer(writer),
    onHeader: (headers) => answerHeaders.push(headers),
  });
  t.is(again.sessionId, first.sessionId);
  t.is(answerHeaders[0]?.get('idempotent-replayed'), 'true');
  t.is(run.world.checkout.checkouts.length, 1);
  const other = { ...request, customerId: 'cust_2' };
  t.is(await codeOf(client.createCheckoutSession(other, bearer(writer))), Code.FailedPrecondition);
});

rpcTest('CreatePortalSession answers with the billing portal to redirect to', async (t, run) => {
  const { client, writer } = setUp(run);
  const portal = await client.createPortalSession(
    { customerId: 'cust_1', returnUrl: 'https://app.example.com/account' },
    bearer(writer),
  );
  t.like(portal, {
    sessionId: 'bps_cust_1',
    url: 'https://billing.stripe.com/p/session/bps_cust_1',
  });
  t.deepEqual(run.world.checkout.portals, ['https://app.example.com/account']);
});

/** A call made with the test's client and keys (writer: checkout:write; reader: entitlements:read). */
type Refusal = (k: ReturnType<typeof setUp>) => Promise<unknown>;

const refusals: ReadonlyArray<[string, Refusal, Code]> = [
  [
    'CreateCheckoutSession without a key',
    (k) => k.client.createCheckoutSession(checkout),
    Code.Unauthenticated,
  ],
  [
    'CreateCheckoutSession with a read-only key',
    (k) => k.client.createCheckoutSession(checkout, bearer(k.reader)),
    Code.PermissionDenied,
  ],
  [
    'CreateCheckoutSession without line items',
    (k) => k.client.createCheckoutSession({ ...checkout, lineItems: [] }, bearer(k.writer)),
    Code.InvalidArgument,
  ],
  [
    'CreateCheckoutSession with a mode left out',
    (k) =>
      k.client.createCheckoutSession(
        { ...checkout, mode: CheckoutMode.UNSPECIFIED },
        bearer(k.writer),
      ),
    Code.InvalidArgument,
  ],
  [
    'CreatePortalSession with a return_url that is not http(s)',
    (k) =>
      k.client.createPortalSession(
        { customerId: 'cust_1', returnUrl: 'javascript:alert(1)' },
        bearer(k.writer),
      ),
    Code.InvalidArgument,
  ],
  [
    'CreatePortalSession with a read-only key',
    (k) =>
      k.client.createPortalSession(
        { customerId: 'cust_1', returnUrl: 'https://app.example.com' },
        bearer(k.reader),
      ),
    Code.PermissionDenied,
  ],
];

for (const [name, call, code] of refusals) {
  rpcTest(`refused: ${name}`, async (t, run) => {
    const keys = setUp(run);
    t.is(await codeOf(call(keys)), code);
    t.is(run.world.checkout.checkouts.length + run.world.checkout.portals.length, 0);
  });
}
