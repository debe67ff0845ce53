// needs: mongodb redis chromium
/**
 * The /demo page in a real browser: Debian's Chromium, headless, driven by
 * playwright-core. A customer token in the URL fragment opens
 * WatchEntitlements over Connect-web; admin grants and revokes show up
 * without a reload; the page reconnects when its stream ends and stops when
 * its token is refused. CORS is checked both as raw preflights and from
 * pages on other origins in the same browser.
 *
 * A screenshot of the live page goes to test/browser/artifacts/demo.png
 * (git-ignored; docs/demo-screenshot.png is a committed copy).
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { durationFromMs } from '@bufbuild/protobuf/wkt';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import type { BrowserContext, Page } from 'playwright-core';
import { AdminService } from '../../gen/billing/v1/admin_pb.js';
import { EntitlementsService } from '../../gen/billing/v1/entitlements_pb.js';
import { createTestProject, startTestApp, type TestApp, type TestProject } from '../helpers/app.js';
import { launchChromium, type TestBrowser } from '../helpers/browser.js';
import { sourceRoot } from '../helpers/process.js';

// In the repository, also when the tests run from the compiled tree.
const artifacts = path.join(sourceRoot, 'test', 'browser', 'artifacts');
const tokenSecrets = randomBytes(24).toString('base64url');

let server: TestApp;
let project: TestProject;
let chromium: TestBrowser;
let browser: BrowserContext;
/** Plain pages on two other origins: one listed in CORS_ALLOWED_ORIGINS, one not. */
let allowedSite: Server;
let otherSite: Server;

const origin = (site: Server) => `http://127.0.0.1:${(site.address() as AddressInfo).port}`;

async function startSite(): Promise<Server> {
  const site = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>another site</title>');
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  return site;
}

test.before(async () => {
  [allowedSite, otherSite] = await Promise.all([startSite(), startSite()]);
  server = await startTestApp({
    env: {
      CUSTOMER_TOKEN_SECRETS: tokenSecrets,
      CORS_ALLOWED_ORIGINS: origin(allowedSite),
    },
  });
  project = await createTestProject(server.app, 'demo page');
  chromium = await launchChromium({ width: 1000, height: 520 });
  browser = chromium.context;
});

test.after.always(async () => {
  await chromium?.close();
  await server?.app.stop();
  allowedSite?.close();
  otherSite?.close();
});

const auth = () => ({ headers: { authorization: `Bearer ${project.adminKey}` } });
const clients = (baseUrl: string) => {
  const transport = createConnectTransport({ baseUrl, httpVersion: '1.1' });
  return {
    admin: createClient(AdminService, transport),
    entitlements: createClient(EntitlementsService, transport),
  };
};

async function tokenFor(customerId: string, ttlMs = 600_000): Promise<string> {
  const issued = await clients(server.baseUrl).entitlements.issueCustomerToken(
    { customerId, ttl: durationFromMs(ttlMs) },
    auth(),
  );
  return issued.token;
}

const demoUrl = (baseUrl: string, token: string, customer: string) =>
  `${baseUrl}/demo#${new URLSearchParams({ token, customer })}`;

const status = (page: Page, state: string) => page.locator(`#status[data-state="${state}"]`);
const featureRow = (page: Page, feature: string) => page.locator(`tr[data-feature="${feature}"]`);

test.serial('the page shows the set and follows grants and revokes live', async (t) => {
  const page = await browser.newPage();
  t.teardown(() => page.close());
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  let navigations = 0;
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) navigations += 1;
  });
  const requested: string[] = [];
  page.on('request', (request) => requested.push(request.url()));

  const token = await tokenFor('demo-user');
  await page.goto(demoUrl(server.baseUrl, token, 'demo-user'));
  await status(page, 'connected').waitFor();
  await page.locator('#entitlements[data-loaded="true"]').waitFor();
  t.is(await page.locator('#customer').textContent(), 'demo-user');
  t.is(await page.locator('#entitlements').textContent(), 'No entitlements');
  // Marks this document: a reload would lose it.
  await page.evaluate(() => {
    (globalThis as unknown as Record<string, unknown>).demoMark = 'same document';
  });

  const { admin } = clients(server.baseUrl);
  const beta = await admin.grantEntitlement(
    {
      customerId: 'demo-user',
      feature: 'beta-dashboard',
      limit: 5n,
      expiresAt: { seconds: BigInt(Math.floor(Date.now() / 1000) + 30 * 86_400), nanos: 0 },
      reason: 'early access',
    },
    auth(),
  );
  await featureRow(page, 'beta-dashboard').waitFor();
  const betaCells = await featureRow(page, 'beta-dashboard').locator('td').allInnerTexts();
  t.is(betaCells[0], 'beta-dashboard');
  t.is(betaCells[1], '5');
  t.regex(betaCells[2] ?? '', new RegExp(`grant ${beta.grant?.id}`));
  t.regex(betaCells[3] ?? '', /^\d{4}-\d\d-\d\dT/);

  await admin.grantEntitlement(
    { customerId: 'demo-user', feature: 'exports', reason: 'support ticket 4711' },
    auth(),
  );
  await featureRow(page, 'exports').waitFor();
  t.deepEqual((await featureRow(page, 'exports').locator('td').allInnerTexts()).slice(0, 2), [
    'exports',
    'unlimited',
  ]);
  await mkdir(artifacts, { recursive: true });
  await page.screenshot({ path: path.join(artifacts, 'demo.png'), fullPage: true });

  await admin.revokeGrant({ grantId: beta.grant?.id ?? '', reason: 'trial over' }, auth());
  await featureRow(page, 'beta-dashboard').waitFor({ state: 'detached' });
  t.is(await featureRow(page, 'exports').count(), 1);
  t.is(
    await page.evaluate(() => (globalThis as unknown as Record<string, unknown>).demoMark),
    'same document',
  );
  t.is(navigations, 1);
  t.true(await status(page, 'connected').isVisible());
  // The token stays in the fragment: no request carried it in a path or query.
  t.false(requested.some((url) => url.includes(token)));
  t.deepEqual(problems, []);
});

test.serial('the page reconnects when its stream ends and gets a fresh snapshot', async (t) => {
  const replica = await startTestApp({
    database: server.config.mongodbDatabase,
    env: { CUSTOMER_TOKEN_SECRETS: tokenSecrets },
  });
  let restarted: TestApp | undefined;
  t.teardown(async () => {
    await replica.app.stop();
    await restarted?.app.stop();
  });
  const page = await browser.newPage();
  t.teardown(() => page.close());
  await page.goto(demoUrl(replica.baseUrl, await tokenFor('demo-reconnect'), 'demo-reconnect'));
  await status(page, 'connected').waitFor();

  await replica.app.stop();
  await status(page, 'reconnecting').waitFor();
  // Changed while the page had no stream: the next snapshot must carry it.
  await clients(server.baseUrl).admin.grantEntitlement(
    { customerId: 'demo-reconnect', feature: 'offline-change', reason: 'r' },
    auth(),
  );
  restarted = await startTestApp({
    database: server.config.mongodbDatabase,
    env: { CUSTOMER_TOKEN_SECRETS: tokenSecrets, PORT: String(replica.app.port) },
  });
  await featureRow(page, 'offline-change').waitFor({ timeout: 30_000 });
  await status(page, 'connected').waitFor();
  t.pass();
});

test.serial('a refused token stops the page with the reason', async (t) => {
  const page = await browser.newPage();
  t.teardown(() => page.close());
  // The stream ends when the token expires; the reconnect is refused.
  await page.goto(demoUrl(server.baseUrl, await tokenFor('demo-expiring', 1000), 'demo-expiring'));
  await status(page, 'stopped').waitFor({ timeout: 15_000 });
  t.regex((await page.locator('#detail').textContent()) ?? '', /expired/);

  const other = await browser.newPage();
  t.teardown(() => other.close());
  await other.goto(demoUrl(server.baseUrl, await tokenFor('someone-else'), 'demo-user'));
  await status(other, 'stopped').waitFor();
  t.regex((await other.locator('#detail').textContent()) ?? '', /another customer/);
});

test('CORS: a preflight from a configured origin is answered, from another origin not', async (t) => {
  const url = `${server.baseUrl}/billing.v1.EntitlementsService/WatchEntitlements`;
  const preflight = (from: string) =>
    fetch(url, {
      method: 'OPTIONS',
      headers: {
        origin: from,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,connect-protocol-version,content-type',
      },
    });
  const allowed = await preflight(origin(allowedSite));
  t.is(allowed.status, 204);
  t.is(allowed.headers.get('access-control-allow-origin'), origin(allowedSite));
  t.regex(allowed.headers.get('access-control-allow-methods') ?? '', /POST/);
  for (const header of ['Authorization', 'Connect-Protocol-Version', 'Content-Type']) {
    t.regex(allowed.headers.get('access-control-allow-headers') ?? '', new RegExp(header, 'i'));
  }
  const refused = await preflight(origin(otherSite));
  const corsHeaders = [...refused.headers.keys()].filter((name) =>
    name.startsWith('access-control-'),
  );
  t.deepEqual(corsHeaders, []);
});

test('CORS in the browser: a configured origin may call the API, another may not', async (t) => {
  const token = await tokenFor('cors-user');
  await clients(server.baseUrl).admin.grantEntitlement(
    { customerId: 'cors-user', feature: 'cross-origin', reason: 'r' },
    auth(),
  );
  const listFrom = async (site: Server) => {
    const page = await browser.newPage();
    t.teardown(() => page.close());
    await page.goto(origin(site));
    return page.evaluate(
      async ({ url, bearer }) => {
        try {
          const response = await fetch(url, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${bearer}`,
              'content-type': 'application/json',
              'connect-protocol-version': '1',
            },
            body: JSON.stringify({ customerId: 'cors-user' }),
          });
          return { status: response.status, text: await response.text() };
        } catch (error) {
          // What a page sees when the browser refuses a cross-origin answer.
          return { status: 0, text: String(error) };
        }
      },
      { url: `${server.baseUrl}/billing.v1.EntitlementsService/ListEntitlements`, bearer: token },
    );
  };
  const allowed = await listFrom(allowedSite);
  t.is(allowed.status, 200, allowed.text);
  t.regex(allowed.text, /cross-origin/);
  const refused = await listFrom(otherSite);
  t.is(refused.status, 0);
  t.regex(refused.text, /Failed to fetch/);
});
