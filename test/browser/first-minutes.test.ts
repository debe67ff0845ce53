// needs: mongodb redis chromium
/**
 * The README's first minutes, for real, in headless Chromium: the service
 * and the local Stripe sandbox wired by start:local's own code
 * (scripts/lib/local-stripe.ts), a checkout session created through the
 * public RPC with the banner's request, paid with the success card on the
 * sandbox's hosted page; the signed webhooks arrive and `/demo`, open in a
 * second tab, shows the plan's features without a reload. Then the billing
 * portal: an upgrade to Team with two seats shows up live, "cancel at period
 * end" keeps the features until the period ends, and the
 * sandbox clock (`npm run sandbox -- advance 31d`, through the CLI's code)
 * removes them. A declined card shows the decline and grants nothing.
 *
 * Screenshots of the checkout page, of /demo with the feature and of the
 * portal go to test/browser/artifacts/ (git-ignored; docs/first-minutes-*.png
 * are committed copies).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fromJson, type JsonObject } from '@bufbuild/protobuf';
import { durationFromMs } from '@bufbuild/protobuf/wkt';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import type { Page } from 'playwright-core';
import {
  CheckoutService,
  CreateCheckoutSessionRequestSchema,
} from '../../gen/billing/v1/checkout_pb.js';
import { EntitlementsService } from '../../gen/billing/v1/entitlements_pb.js';
import { runCli } from '../../sandbox/control/cli.js';
import type { Sandbox } from '../../sandbox/index.js';
import { devCheckoutRequest } from '../../scripts/lib/local-stripe.js';
import type { TestApp, TestProject } from '../helpers/app.js';
import { launchChromium, type TestBrowser } from '../helpers/browser.js';
import { type LocalStack, startLocalStack } from '../helpers/local-stack.js';
import { sourceRoot } from '../helpers/process.js';

// In the repository, also when the tests run from the compiled tree.
const artifacts = path.join(sourceRoot, 'test', 'browser', 'artifacts');

let stack: LocalStack;
let sandbox: Sandbox;
let server: TestApp;
let project: TestProject;
let chromium: TestBrowser;

test.before(async () => {
  stack = await startLocalStack('first minutes');
  ({ sandbox, server, project } = stack);
  chromium = await launchChromium({ width: 900, height: 640 });
  await mkdir(artifacts, { recursive: true });
});

test.after.always(async () => {
  await chromium?.close();
  await stack?.close();
});

const auth = () => ({ headers: { authorization: `Bearer ${project.adminKey}` } });
const clients = () => {
  const transport = createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' });
  return {
    checkout: createClient(CheckoutService, transport),
    entitlements: createClient(EntitlementsService, transport),
  };
};

/** The banner's CreateCheckoutSession request (the README's), for `customer`. */
function checkoutRequest(customer: string) {
  const json: JsonObject = {
    ...devCheckoutRequest(server.app.port, stack.prices),
    customer_id: customer,
  };
  return fromJson(CreateCheckoutSessionRequestSchema, json);
}

async function openDemo(customer: string): Promise<Page> {
  const issued = await clients().entitlements.issueCustomerToken(
    { customerId: customer, ttl: durationFromMs(3_600_000) },
    auth(),
  );
  const page = await chromium.context.newPage();
  await page.goto(
    `${server.baseUrl}/demo#${new URLSearchParams({ token: issued.token, customer })}`,
  );
  await page.locator('#status[data-state="connected"]').waitFor();
  await page.locator('#entitlements[data-loaded="true"]').waitFor();
  return page;
}

const featureRow = (page: Page, feature: string) => page.locator(`tr[data-feature="${feature}"]`);

/** Resolves once the sandbox has sent every webhook and none waits for a retry. */
async function webhooksDelivered(): Promise<void> {
  await sandbox.delivery.idle();
}

const eventTypes = (since: number) =>
  sandbox
    .events()
    .slice(since)
    .map((event) => event.type);

test.serial(
  'checkout, pay, live /demo; portal cancel keeps the feature; the clock removes it',
  async (t) => {
    const demo = await openDemo('u1');
    t.teardown(() => demo.close());
    t.is(await demo.locator('#entitlements').textContent(), 'No entitlements');
    // Marks this document: a reload would lose it.
    await demo.evaluate(() => {
      (globalThis as unknown as Record<string, unknown>).firstMinutes = 'same document';
    });
    let navigations = 0;
    demo.on('framenavigated', (frame) => {
      if (frame === demo.mainFrame()) navigations += 1;
    });

    const { checkout } = clients();
    const session = await checkout.createCheckoutSession(checkoutRequest('u1'), auth());
    t.is(session.url, `${sandbox.url}/c/pay/${session.sessionId}`);

    const buyer = await chromium.context.newPage();
    t.teardown(() => buyer.close());
    await buyer.goto(session.url);
    await buyer.getByText('20.00 USD').first().waitFor();
    await buyer.screenshot({ path: path.join(artifacts, 'first-minutes-checkout.png') });
    const seen = sandbox.events().length;
    await buyer.locator('#card').fill('4242 4242 4242 4242');
    await buyer.locator('#pay').click();
    // Paid: the page goes to the session's success URL, the service's /demo.
    await buyer.waitForURL(`${server.baseUrl}/demo`);

    await featureRow(demo, 'export').waitFor();
    t.deepEqual(
      await demo
        .locator('tr[data-feature]')
        .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-feature'))),
      ['api_requests', 'export', 'projects'],
    );
    t.is(await featureRow(demo, 'export').locator('td.time').textContent(), '—');
    await demo.screenshot({ path: path.join(artifacts, 'first-minutes-demo.png'), fullPage: true });
    await webhooksDelivered();
    t.true(eventTypes(seen).includes('checkout.session.completed'), eventTypes(seen).join());
    t.true(eventTypes(seen).includes('customer.subscription.created'));
    // Every attempt was signed and accepted the first time.
    t.deepEqual(
      sandbox.delivery.attempts.filter((a) => a.status !== 200).map((a) => a.eventType),
      [],
    );

    // The billing portal: cancel at period end. The feature stays, now with an end.
    const portal = await checkout.createPortalSession(
      { customerId: 'u1', returnUrl: `${server.baseUrl}/demo` },
      auth(),
    );
    t.true(portal.url.startsWith(`${sandbox.url}/p/session/`), portal.url);
    await buyer.goto(portal.url);
    await buyer.locator('#cancel').waitFor();
    await buyer.screenshot({ path: path.join(artifacts, 'first-minutes-portal.png') });
    // Upgrade: Team, two seats; /demo follows.
    const team = stack.prices.find((price) => price.name === 'Team (per seat)')?.priceId ?? '';
    await buyer.locator('#price').selectOption(team);
    await buyer.locator('#quantity').fill('2');
    await buyer.locator('#update').click();
    await buyer.getByText('Your subscription was updated.').waitFor();
    await featureRow(demo, 'seats').waitFor();
    t.deepEqual((await featureRow(demo, 'seats').locator('td').allInnerTexts()).slice(0, 2), [
      'seats',
      '2',
    ]);
    t.is(await featureRow(demo, 'projects').locator('td').nth(1).textContent(), '500');
    const subscription = sandbox.subscriptions().find((s) => s.status === 'active');
    const periodEnd = new Date((subscription?.items.data[0]?.current_period_end ?? 0) * 1000);
    const beforeCancel = sandbox.events().length;
    await buyer.locator('#cancel').click();
    await buyer.getByText('Your subscription will end at the end of the period.').waitFor();
    await buyer.locator('#resume').waitFor();
    const until = periodEnd.toISOString().replace('.000Z', 'Z');
    await featureRow(demo, 'export').locator('td.time', { hasText: until }).waitFor();
    await webhooksDelivered();
    t.deepEqual(eventTypes(beforeCancel), ['customer.subscription.updated']);
    t.is(await featureRow(demo, 'seats').count(), 1);
    t.is(await featureRow(demo, 'export').count(), 1);

    // Time passes: the clock moves past the period end, the subscription ends.
    const beforeAdvance = sandbox.events().length;
    const printed: string[] = [];
    t.is(
      await runCli(['advance', '31d'], { baseUrl: sandbox.url, out: (l) => printed.push(l) }),
      0,
    );
    t.regex(printed.join('\n'), /^clock now /);
    await featureRow(demo, 'export').waitFor({ state: 'detached' });
    t.is(await demo.locator('#entitlements').textContent(), 'No entitlements');
    await webhooksDelivered();
    t.true(eventTypes(beforeAdvance).includes('customer.subscription.deleted'));
    t.is(
      await demo.evaluate(() => (globalThis as unknown as Record<string, unknown>).firstMinutes),
      'same document',
    );
    t.is(navigations, 0);
    t.true(await demo.locator('#status[data-state="connected"]').isVisible());
  },
);

test.serial(
  'a declined card shows the decline on the checkout page and grants nothing',
  async (t) => {
    const { checkout, entitlements } = clients();
    const session = await checkout.createCheckoutSession(checkoutRequest('u2'), auth());
    await webhooksDelivered();
    const page = await chromium.context.newPage();
    t.teardown(() => page.close());
    await page.goto(session.url);
    const seen = sandbox.events().length;
    await page.locator('#card').fill('4000 0000 0000 0002');
    await page.locator('#pay').click();
    await page.getByRole('alert').getByText('Your card was declined.').waitFor();
    // Still the checkout page, ready for another card.
    t.is(page.url(), session.url);
    await page.locator('#pay').waitFor();
    t.deepEqual(eventTypes(seen), []);
    t.is(sandbox.checkoutSessions().find((s) => s.id === session.sessionId)?.status, 'open');
    const listed = await entitlements.listEntitlements({ customerId: 'u2' }, auth());
    t.deepEqual(
      listed.entitlements.map((e) => e.feature),
      [],
    );
  },
);
