// needs: mongodb redis grpcurl
/**
 * The README's "First minutes" blocks run as a newcomer types them, from
 * the repository root, against the service and the sandbox wired as
 * start:local wires them (test/helpers/local-stack.ts): only KEY and PRO
 * are filled in, the service's port is the test server's, and
 * `npm run sandbox` finds the test's sandbox through SANDBOX_URL. Between
 * the blocks the test does what the reader does in the browser, by posting
 * the hosted pages' forms: pay with 4242..., press "Cancel at period end".
 * test/browser/first-minutes.test.ts does the same in Chromium.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { EntitlementsService } from '../../gen/billing/v1/entitlements_pb.js';
import { type LocalStack, startLocalStack } from '../helpers/local-stack.js';
import { pathWithoutGrpcurl, repoRoot } from '../helpers/process.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
let stack: LocalStack;

test.before(async () => {
  stack = await startLocalStack('readme first minutes');
});

test.after.always(async () => {
  await stack?.close();
});

/** The sh blocks of the README's "First minutes" section, in order. */
async function firstMinutesBlocks(): Promise<string[]> {
  const readme = await readFile(path.join(repoRoot, 'README.md'), 'utf8');
  const section = /^## First minutes[^\n]*\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1];
  if (section === undefined) throw new Error('README.md has no "First minutes" section');
  return [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((match) => match[1] ?? '');
}

/** Runs a block with bash as typed, KEY filled in (later blocks: the same terminal, KEY still set). */
async function runBlock(block: string, key: string): Promise<string> {
  const typed = block.replaceAll('127.0.0.1:8080', `127.0.0.1:${stack.server.app.port}`);
  const script = /^KEY=\.\.\./m.test(typed)
    ? typed.replace(/^KEY=\.\.\..*$/m, `KEY='${key}'`)
    : `KEY='${key}'\n${typed}`;
  const { stdout } = await run('bash', ['-c', `set -euo pipefail\n${script}`], {
    cwd: repoRoot,
    env: {
      PATH: pathWithoutGrpcurl(),
      HOME: process.env.HOME ?? '',
      SANDBOX_URL: stack.sandbox.url,
    },
    timeout: 120_000,
  });
  return stdout;
}

/** What the hosted page's form sends when its button is pressed. */
function submit(url: string, fields: Record<string, string>): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
    redirect: 'manual',
  });
}

test('the README "First minutes" blocks work as written: checkout, portal, clock', async (t) => {
  const { server, sandbox, project, prices } = stack;
  const blocks = await firstMinutesBlocks();
  t.is(blocks.length, 3, 'checkout, portal, clock');
  const [checkoutBlock = '', portalBlock = '', clockBlock = ''] = blocks;
  t.regex(checkoutBlock, /^KEY=\.\.\..*\nPRO=\.\.\./m);
  const pro = prices.find((price) => price.name === 'Pro')?.priceId ?? '';
  const entitlements = createClient(
    EntitlementsService,
    createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' }),
  );
  const headers = { authorization: `Bearer ${project.adminKey}` };
  const features = async () =>
    (await entitlements.listEntitlements({ customerId: 'u1' }, { headers })).entitlements;

  const checkout = JSON.parse(
    await runBlock(checkoutBlock.replace(/^PRO=\.\.\..*$/m, `PRO='${pro}'`), project.adminKey),
  ) as { sessionId: string; url: string };
  t.is(checkout.url, `${sandbox.url}/c/pay/${checkout.sessionId}`);
  const paid = await submit(checkout.url, { card: '4242 4242 4242 4242' });
  t.is(paid.status, 303);
  t.is(paid.headers.get('location'), `http://127.0.0.1:${server.app.port}/demo`);
  const granted = await waitFor(features, {
    until: (list) => list.some((e) => e.feature === 'export'),
    what: 'the Pro features after paying',
  });
  t.deepEqual(
    granted.map((e) => e.feature),
    ['api_requests', 'export', 'projects'],
  );

  const portal = JSON.parse(await runBlock(portalBlock, project.adminKey)) as { url: string };
  t.true(portal.url.startsWith(`${sandbox.url}/p/session/`), portal.url);
  const subscription = sandbox.subscriptions().find((s) => s.status === 'active');
  const canceled = await submit(portal.url, {
    subscription: subscription?.id ?? '',
    item: subscription?.items.data[0]?.id ?? '',
    action: 'cancel',
  });
  t.regex(await canceled.text(), /Your subscription will end at the end of the period\./);
  const ending = await waitFor(features, {
    until: (list) => list.find((e) => e.feature === 'export')?.validUntil !== undefined,
    what: 'the export feature to carry its end',
  });
  t.is(
    Number(ending.find((e) => e.feature === 'export')?.validUntil?.seconds),
    subscription?.items.data[0]?.current_period_end ?? 0,
  );

  const printed = await runBlock(clockBlock, project.adminKey);
  t.regex(printed, /^clock now \d{4}-/m);
  t.regex(printed, /customer\.subscription\.deleted/);
  await waitFor(features, {
    until: (list) => list.length === 0,
    what: 'no entitlements after the period end',
  });
  t.pass();
});
