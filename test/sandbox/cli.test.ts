/**
 * The sandbox CLI over the control API: status, advance, trigger
 * payment_failed, customers, events, deliveries, switches, pay; and the
 * `npm run sandbox` entry point as a process (exit codes, usage).
 */
import { spawn } from 'node:child_process';
import anyTest, { type TestFn } from 'ava';
import type Stripe from 'stripe';
import { runCli } from '../../sandbox/control/cli.js';
import { type Sandbox, startSandbox } from '../../sandbox/index.js';
import { nodeEntryArgs } from '../../scripts/lib/node-entry.js';
import { repoRoot } from '../helpers/process.js';

const KEY = 'sk_test_cli';
const test = anyTest as TestFn<{ sandbox: Sandbox; stripe: Stripe }>;

test.beforeEach(async (t) => {
  t.context.sandbox = await startSandbox({ apiKeys: [KEY] });
  t.context.stripe = t.context.sandbox.makeClient(KEY);
});

test.afterEach.always(async (t) => {
  await t.context.sandbox.close();
});

async function cli(sandbox: Sandbox, ...args: string[]): Promise<string[]> {
  const lines: string[] = [];
  const code = await runCli(args, { baseUrl: sandbox.url, out: (line) => lines.push(line) });
  if (code !== 0) throw new Error(`exit ${code}`);
  return lines;
}

async function subscribedCustomer(stripe: Stripe): Promise<Stripe.Subscription> {
  const price = await stripe.prices.create({
    currency: 'usd',
    unit_amount: 2000,
    recurring: { interval: 'month' },
    product_data: { name: 'Pro' },
  });
  const customer = await stripe.customers.create({
    email: 'u1@example.com',
    metadata: { billing_customer_id: 'u1' },
  });
  return stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] });
}

test('advance, trigger payment_failed, customers, events, deliveries, status', async (t) => {
  const { sandbox, stripe } = t.context;
  const subscription = await subscribedCustomer(stripe);
  const before = sandbox.clock.now();

  const advanced = await cli(sandbox, 'advance', '31d');
  t.regex(advanced[0] ?? '', /^clock now \d{4}-\d\d-\d\dT/);
  t.true(sandbox.clock.now() >= before + 31 * 86_400);
  const renewed = await stripe.subscriptions.retrieve(subscription.id);
  t.true(
    (renewed.items.data[0]?.current_period_start ?? 0) >
      (subscription.items.data[0]?.current_period_start ?? 0),
  );

  const triggered = await cli(sandbox, 'trigger', 'payment_failed', '--customer', 'u1');
  t.deepEqual(
    triggered.map((line) => line.split(' ')[1]),
    ['invoice.payment_failed', 'customer.subscription.updated'],
  );
  t.is((await stripe.subscriptions.retrieve(subscription.id)).status, 'past_due');

  const customers = await cli(sandbox, 'customers');
  t.regex(customers[0] ?? '', /^cus_\S+ {2}u1 {2}u1@example\.com$/);
  t.regex(customers[1] ?? '', new RegExp(`^  ${subscription.id} past_due price_\\S+ x1 until `));

  const events = await cli(sandbox, 'events', '--limit', '2');
  t.is(events.length, 2);
  t.regex(events[0] ?? '', /customer\.subscription\.updated/);

  t.deepEqual(await cli(sandbox, 'deliveries'), []);
  const status = await cli(sandbox, 'status');
  t.regex(status[1] ?? '', /1 customers, 1 subscriptions, \d+ events, 0 deliveries pending/);
  t.deepEqual(await cli(sandbox, 'switches', '--duplicates', 'on'), [
    '{"duplicates":true,"reorder":false}',
  ]);
  t.true(sandbox.delivery.switches.duplicates);
});

test('pay completes a checkout session with a test card; a declined card is refused', async (t) => {
  const { sandbox, stripe } = t.context;
  const price = await stripe.prices.create({
    currency: 'usd',
    unit_amount: 900,
    product_data: { name: 'Pack' },
  });
  const session = await stripe.checkout.sessions.create({
    mode: 'payment',
    line_items: [{ price: price.id, quantity: 1 }],
    success_url: 'https://example.com/ok',
  });
  await t.throwsAsync(cli(sandbox, 'pay', session.id, '--card', '4000000000000002'), {
    message: 'Your card was declined.',
  });
  t.is((await stripe.checkout.sessions.retrieve(session.id)).status, 'open');
  t.deepEqual(await cli(sandbox, 'pay', session.id), [`paid ${session.id}`]);
  t.is((await stripe.checkout.sessions.retrieve(session.id)).status, 'complete');
  await t.throwsAsync(cli(sandbox, 'trigger', 'payment_failed', '--customer', 'nobody'), {
    message: "No such customer: 'nobody'",
  });
});

function runEntry(
  args: readonly string[],
  baseUrl: string,
): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [...nodeEntryArgs('sandbox/cli.ts'), ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', SANDBOX_URL: baseUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, out })));
}

test('npm run sandbox: output, usage errors exit 2, no sandbox exits 1', async (t) => {
  const { sandbox } = t.context;
  const [ok, usage] = await Promise.all([
    runEntry(['status'], sandbox.url),
    runEntry(['advance'], sandbox.url),
  ]);
  t.is(ok.code, 0, ok.out);
  t.regex(ok.out, new RegExp(`^sandbox ${sandbox.url}, clock `));
  t.is(usage.code, 2);
  t.regex(usage.out, /advance needs a duration[\s\S]*usage: npm run sandbox/);
  const closedUrl = sandbox.url;
  await sandbox.close();
  t.context.sandbox = await startSandbox();
  const none = await runEntry(['status'], closedUrl);
  t.is(none.code, 1);
  t.regex(none.out, /no sandbox at http:\/\/127\.0\.0\.1:\d+/);
});
