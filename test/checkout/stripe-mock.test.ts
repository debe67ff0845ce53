// needs: mongodb redis stripe-mock
/**
 * The checkout, portal and meter event calls the service makes, checked by stripe-mock
 * against Stripe's own API description: every parameter name and type must
 * be one Stripe accepts. (stripe-mock keeps no state and answers fixtures,
 * so behaviour is tested against the stateful fake; this test is about the
 * shape of what we send.)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { CheckoutMode, CheckoutService } from '../../gen/billing/v1/checkout_pb.js';
import { EntitlementsService } from '../../gen/billing/v1/entitlements_pb.js';
import { freePort } from '../../scripts/lib/local-services.js';
import { createTestProject, startTestApp, type TestApp, type TestProject } from '../helpers/app.js';
import { stripeMockBin } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { usageCatalog, withMeters } from '../usage/usage-world.js';

let stripeMock: ChildProcess;
let server: TestApp;
let project: TestProject;

test.before(async () => {
  const port = await freePort();
  stripeMock = spawn(stripeMockBin(), ['-http-addr', `127.0.0.1:${port}`], { stdio: 'ignore' });
  await waitForPort(port);
  server = await startTestApp({ env: { STRIPE_API_URL: `http://127.0.0.1:${port}` } });
  project = await createTestProject(server.app, 'stripe-mock', { stripeSecretKey: 'sk_test_123' });
});

test.after.always(async () => {
  await server?.app.stop();
  stripeMock?.kill();
});

async function waitForPort(port: number): Promise<void> {
  await waitFor(
    () =>
      fetch(`http://127.0.0.1:${port}/v1/customers`, {
        headers: { authorization: 'Bearer sk_test_123' },
      }).then(
        () => true,
        () => false,
      ),
    { what: `stripe-mock to answer on port ${port}`, everyMs: 100 },
  );
}

/** A raw form POST to stripe-mock, as the SDK would send it. */
const postForm = (path: string, body: string) =>
  fetch(`${server.config.stripeApiUrl}${path}`, {
    method: 'POST',
    headers: {
      authorization: 'Bearer sk_test_123',
      'content-type': 'application/x-www-form-urlencoded',
    },
    body,
  });

const checkout = () =>
  createClient(
    CheckoutService,
    createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' }),
  );
const auth = () => ({ headers: { authorization: `Bearer ${project.adminKey}` } });

test.serial('stripe-mock accepts our checkout session requests in both modes', async (t) => {
  for (const mode of [CheckoutMode.SUBSCRIPTION, CheckoutMode.PAYMENT]) {
    const answer = await checkout().createCheckoutSession(
      {
        customerId: 'mock-user',
        mode,
        lineItems: [{ priceId: 'price_123', quantity: 2n }],
        successUrl: 'https://app.example/ok',
        cancelUrl: 'https://app.example/cancel',
        customerEmail: 'buyer@example.com',
        idempotencyKey: `mock-${mode}`,
      },
      auth(),
    );
    t.regex(answer.sessionId, /^cs_/);
    t.regex(answer.stripeCustomerId, /^cus_/);
  }
});

test.serial('stripe-mock accepts our portal session request', async (t) => {
  const answer = await checkout().createPortalSession(
    {
      customerId: 'mock-user',
      returnUrl: 'https://app.example/account',
      idempotencyKey: 'portal-1',
    },
    auth(),
  );
  t.regex(answer.sessionId, /^bps_/);
});

test.serial('a parameter Stripe does not know would be refused (the check is real)', async (t) => {
  const response = await postForm(
    '/v1/checkout/sessions',
    'mode=payment&success_url=https://x.example&not_a_param=1',
  );
  t.is(response.status, 400);
  t.regex(await response.text(), /additional properties are not allowed/);
});

test.serial('stripe-mock accepts the meter events the meter report job sends', async (t) => {
  // The customer link comes from the checkout test above (CreateCheckoutSession for mock-user).
  const catalog = withMeters(usageCatalog);
  await server.app.projects.setCatalog(project.projectId, catalog, 'test', 'metered catalog');
  const entitlements = createClient(
    EntitlementsService,
    createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' }),
  );
  for (const key of ['meter-1', 'meter-2']) {
    await entitlements.trackUsage(
      { customerId: 'mock-user', feature: 'api_requests', amount: 3n, idempotencyKey: key },
      auth(),
    );
  }
  const result = await server.app.meterReports.run('stripe-mock');
  t.like(result, { sent: 2, failed: 0, skipped: 0, pending: 0 });
});

test.serial('a meter event of the wrong shape would be refused (the check is real)', async (t) => {
  const response = await postForm(
    '/v1/billing/meter_events',
    'event_name=api_requests&payload[stripe_customer_id]=cus_1&payload[value]=3&timestamp=soon',
  );
  t.is(response.status, 400);
  t.regex(await response.text(), /timestamp/);
});
