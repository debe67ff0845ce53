/**
 * The sandbox's hosted pages, used as a browser would (GET the page, POST
 * its form): checkout with the success, decline and pays-later test cards;
 * the portal's upgrade, downgrade, seats, cancel at period end and resume.
 */
import anyTest, { type TestFn } from 'ava';
import type Stripe from 'stripe';
import { type Sandbox, startSandbox } from '../../sandbox/index.js';
import { waitFor } from '../helpers/wait.js';

const KEY = 'sk_test_pages';
const test = anyTest as TestFn<{ sandbox: Sandbox; stripe: Stripe; pro: Stripe.Price }>;

test.beforeEach(async (t) => {
  t.context.sandbox = await startSandbox({
    apiKeys: [KEY],
    hostedPages: true,
    asyncPaymentDelayMs: 50,
  });
  t.context.stripe = t.context.sandbox.makeClient(KEY);
  t.context.pro = await t.context.stripe.prices.create({
    currency: 'usd',
    unit_amount: 2000,
    recurring: { interval: 'month' },
    product_data: { name: 'Pro' },
    nickname: 'Pro',
  });
});

test.afterEach.always(async (t) => {
  await t.context.sandbox.close();
});

function post(url: string, fields: Record<string, string>): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
    redirect: 'manual',
  });
}

async function openCheckout(
  t: { context: { stripe: Stripe; pro: Stripe.Price } },
  mode: 'subscription' | 'payment',
  price: string,
) {
  return t.context.stripe.checkout.sessions.create({
    mode,
    line_items: [{ price, quantity: 1 }],
    success_url: 'https://example.com/ok?session={CHECKOUT_SESSION_ID}',
    cancel_url: 'https://example.com/cancel',
  });
}

test('checkout page: a declined card says so; 4242 pays and redirects to success_url', async (t) => {
  const { sandbox, stripe, pro } = t.context;
  const session = await openCheckout(t, 'subscription', pro.id);
  t.is(session.url, `${sandbox.url}/c/pay/${session.id}`);
  const pageHtml = await (await fetch(session.url ?? '')).text();
  t.regex(pageHtml, /20\.00 USD/);
  t.regex(pageHtml, /<button type="submit" id="pay">Pay<\/button>/);

  const declined = await post(session.url ?? '', { card: '4000 0000 0000 0002' });
  t.is(declined.status, 402);
  t.regex(await declined.text(), /Your card was declined\./);
  t.is((await stripe.checkout.sessions.retrieve(session.id)).status, 'open');

  const paid = await post(session.url ?? '', {
    card: '4242 4242 4242 4242',
    email: 'ada@example.com',
  });
  t.is(paid.status, 303);
  t.is(paid.headers.get('location'), `https://example.com/ok?session=${session.id}`);
  const completed = await stripe.checkout.sessions.retrieve(session.id);
  t.is(completed.status, 'complete');
  t.is(completed.payment_status, 'paid');
  const subscription = await stripe.subscriptions.retrieve(String(completed.subscription));
  t.is(subscription.status, 'active');
  const buyer = (await stripe.customers.retrieve(String(completed.customer))) as Stripe.Customer;
  t.is(buyer.email, 'ada@example.com');
  const again = await fetch(session.url ?? '');
  t.regex(await again.text(), /This checkout session is complete/);
});

test('4000000000000077 completes unpaid; the payment succeeds a moment later', async (t) => {
  const { sandbox, stripe } = t.context;
  const pack = await stripe.prices.create({
    currency: 'usd',
    unit_amount: 900,
    product_data: { name: 'Credits' },
  });
  const session = await openCheckout(t, 'payment', pack.id);
  const answer = await post(session.url ?? '', { card: '4000000000000077' });
  t.is(answer.status, 303);
  const types = await waitFor(() => sandbox.events(KEY).map((e) => e.type), {
    until: (list) => list.includes('checkout.session.async_payment_succeeded'),
    what: 'the delayed payment',
  });
  t.true(
    types.indexOf('checkout.session.completed') <
      types.indexOf('checkout.session.async_payment_succeeded'),
  );
  // Read from the event, not the session: the payment may already have succeeded.
  const completed = sandbox.events(KEY).find((e) => e.type === 'checkout.session.completed');
  t.is((completed?.data.object as Stripe.Checkout.Session | undefined)?.payment_status, 'unpaid');
  t.is((await stripe.checkout.sessions.retrieve(session.id)).payment_status, 'paid');
});

test('portal: upgrade with seats, downgrade, cancel at period end, resume', async (t) => {
  const { sandbox, stripe, pro } = t.context;
  const team = await stripe.prices.create({
    currency: 'usd',
    unit_amount: 1000,
    recurring: { interval: 'month' },
    product_data: { name: 'Team' },
    nickname: 'Team',
  });
  const customer = await stripe.customers.create({});
  const subscription = await stripe.subscriptions.create({
    customer: customer.id,
    items: [{ price: pro.id }],
  });
  const item = subscription.items.data[0]?.id ?? '';
  const portal = await stripe.billingPortal.sessions.create({
    customer: customer.id,
    return_url: 'https://example.com/account',
  });
  t.is(portal.url, `${sandbox.url}/p/session/${portal.id}`);
  const shown = await (await fetch(portal.url)).text();
  t.regex(shown, /Pro \(20\.00 USD \/ month\)<\/b> × 1 — active, renews on/);
  t.regex(shown, /href="https:\/\/example\.com\/account"/);

  const form = { subscription: subscription.id, item };
  const upgraded = await post(portal.url, {
    ...form,
    action: 'update',
    price: team.id,
    quantity: '5',
  });
  t.is(upgraded.status, 200);
  t.regex(await upgraded.text(), /Team \(10\.00 USD \/ month\)<\/b> × 5/);
  let current = await stripe.subscriptions.retrieve(subscription.id);
  t.is(current.items.data[0]?.price.id, team.id);
  t.is(current.items.data[0]?.quantity, 5);

  await post(portal.url, { ...form, action: 'update', price: pro.id, quantity: '1' });
  current = await stripe.subscriptions.retrieve(subscription.id);
  t.is(current.items.data[0]?.price.id, pro.id);

  const canceling = await post(portal.url, { ...form, action: 'cancel' });
  t.regex(await canceling.text(), /cancels on \d{4}-\d\d-\d\d/);
  t.true((await stripe.subscriptions.retrieve(subscription.id)).cancel_at_period_end);
  await post(portal.url, { ...form, action: 'resume' });
  t.false((await stripe.subscriptions.retrieve(subscription.id)).cancel_at_period_end);
  const updates = sandbox.events(KEY).filter((e) => e.type === 'customer.subscription.updated');
  t.is(updates.length, 4);

  const foreign = await post(portal.url, { subscription: 'sub_nope', item, action: 'cancel' });
  t.is(foreign.status, 404);
});
