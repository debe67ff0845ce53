/**
 * The sandbox's test clock through the real SDK: advancing renews
 * subscriptions (new item periods, a paid `subscription_cycle` invoice),
 * ends trials, ends subscriptions set to cancel at period end, and with the
 * card that fails later (4000000000000341) a renewal goes past_due, is
 * retried 3, 5 and 7 days later, and the subscription is then canceled.
 */
import anyTest, { type TestFn } from 'ava';
import type Stripe from 'stripe';
import { parseDuration, type Sandbox, startSandbox } from '../../sandbox/index.js';

const KEY = 'sk_test_clock';
const DAY = 86_400;
const test = anyTest as TestFn<{ sandbox: Sandbox; stripe: Stripe; price: Stripe.Price }>;

test.beforeEach(async (t) => {
  t.context.sandbox = await startSandbox({ apiKeys: [KEY] });
  t.context.stripe = t.context.sandbox.makeClient(KEY);
  t.context.price = await t.context.stripe.prices.create({
    currency: 'usd',
    unit_amount: 2000,
    recurring: { interval: 'month' },
    product_data: { name: 'Pro' },
  });
});

test.afterEach.always(async (t) => {
  await t.context.sandbox.close();
});

async function subscribe(
  t: { context: { stripe: Stripe; price: Stripe.Price } },
  card: string,
  extra: Partial<Stripe.SubscriptionCreateParams> = {},
): Promise<Stripe.Subscription> {
  const { stripe, price } = t.context;
  const customer = await stripe.customers.create({ payment_method: card });
  return stripe.subscriptions.create({
    customer: customer.id,
    items: [{ price: price.id }],
    ...extra,
  });
}

function eventTypes(sandbox: Sandbox, since: number): string[] {
  return sandbox
    .events(KEY)
    .slice(since)
    .map((event) => event.type);
}

test('advance past the period end renews: new item periods, a paid cycle invoice', async (t) => {
  const { sandbox, stripe } = t.context;
  const created = await subscribe(t, 'pm_card_visa');
  const firstEnd = created.items.data[0]?.current_period_end ?? 0;
  const seen = sandbox.events(KEY).length;
  sandbox.advance(31 * DAY);
  const renewed = await stripe.subscriptions.retrieve(created.id);
  t.is(renewed.status, 'active');
  t.is(renewed.items.data[0]?.current_period_start, firstEnd);
  t.true((renewed.items.data[0]?.current_period_end ?? 0) >= firstEnd + 28 * DAY);
  t.not(renewed.latest_invoice, created.latest_invoice);
  const invoice = await stripe.invoices.retrieve(String(renewed.latest_invoice));
  t.is(invoice.status, 'paid');
  t.is(invoice.billing_reason, 'subscription_cycle');
  t.is(invoice.amount_paid, 2000);
  t.deepEqual(eventTypes(sandbox, seen), [
    'customer.subscription.updated',
    'invoice.paid',
    'invoice.payment_succeeded',
  ]);
  const updated = sandbox.events(KEY)[seen] as Stripe.CustomerSubscriptionUpdatedEvent;
  t.truthy(updated.data.previous_attributes?.items);
});

test('a long advance renews once per period', async (t) => {
  const { sandbox, stripe } = t.context;
  const created = await subscribe(t, 'pm_card_visa');
  sandbox.advance(parseDuration('95d'));
  const invoices = await stripe.invoices.list({ subscription: created.id });
  t.is(invoices.data.length, 4);
  t.true(invoices.data.every((invoice) => invoice.status === 'paid'));
  const renewed = await stripe.subscriptions.retrieve(created.id);
  t.true((renewed.items.data[0]?.current_period_end ?? 0) > sandbox.clock.now());
});

test('a trial ends: the subscription becomes active and pays its first real invoice', async (t) => {
  const { sandbox, stripe } = t.context;
  const created = await subscribe(t, 'pm_card_visa', { trial_period_days: 7 });
  t.is(created.status, 'trialing');
  t.is(created.trial_end, created.items.data[0]?.current_period_end ?? null);
  const trialInvoice = await stripe.invoices.retrieve(String(created.latest_invoice));
  t.is(trialInvoice.amount_due, 0);
  sandbox.advance(6 * DAY);
  t.is((await stripe.subscriptions.retrieve(created.id)).status, 'trialing');
  sandbox.advance(2 * DAY);
  const active = await stripe.subscriptions.retrieve(created.id);
  t.is(active.status, 'active');
  t.is(created.trial_end, active.items.data[0]?.current_period_start ?? null);
  t.is((await stripe.invoices.retrieve(String(active.latest_invoice))).amount_paid, 2000);
});

test('cancel at period end: the subscription ends when the clock passes it', async (t) => {
  const { sandbox, stripe } = t.context;
  const created = await subscribe(t, 'pm_card_visa');
  await stripe.subscriptions.update(created.id, { cancel_at_period_end: true });
  sandbox.advance(20 * DAY);
  t.is((await stripe.subscriptions.retrieve(created.id)).status, 'active');
  const seen = sandbox.events(KEY).length;
  sandbox.advance(15 * DAY);
  const ended = await stripe.subscriptions.retrieve(created.id);
  t.is(ended.status, 'canceled');
  t.is(ended.cancellation_details?.reason, 'cancellation_requested');
  t.deepEqual(eventTypes(sandbox, seen), ['customer.subscription.deleted']);
  t.is((await stripe.invoices.list({ subscription: created.id })).data.length, 1);
});

test('card 4000000000000341: the renewal fails, retries at 3, 5, 7 days, then canceled', async (t) => {
  const { sandbox, stripe } = t.context;
  const created = await subscribe(t, '4000000000000341');
  t.is(created.status, 'active');
  const periodEnd = created.items.data[0]?.current_period_end ?? 0;
  const seen = sandbox.events(KEY).length;
  sandbox.advance(periodEnd - sandbox.clock.now() + 60);
  const pastDue = await stripe.subscriptions.retrieve(created.id);
  t.is(pastDue.status, 'past_due');
  const invoiceId = String(pastDue.latest_invoice);
  let invoice: Stripe.Invoice = await stripe.invoices.retrieve(invoiceId);
  t.is(invoice.status, 'open');
  t.is(invoice.attempt_count, 1);
  t.true((invoice.next_payment_attempt ?? 0) > sandbox.clock.now());

  const attemptsAfter = async (days: number): Promise<Stripe.Invoice> => {
    sandbox.advance(days * DAY);
    return stripe.invoices.retrieve(invoiceId);
  };
  invoice = await attemptsAfter(2);
  t.is(invoice.attempt_count, 1, 'no retry before day 3');
  invoice = await attemptsAfter(1);
  t.is(invoice.attempt_count, 2, 'retried on day 3');
  invoice = await attemptsAfter(2);
  t.is(invoice.attempt_count, 3, 'retried on day 5');
  t.is((await stripe.subscriptions.retrieve(created.id)).status, 'past_due');
  invoice = await attemptsAfter(2);
  t.is(invoice.attempt_count, 4, 'retried on day 7');
  t.is(invoice.status, 'uncollectible');
  const canceled = await stripe.subscriptions.retrieve(created.id);
  t.is(canceled.status, 'canceled');
  t.is(canceled.cancellation_details?.reason, 'payment_failed');
  // The renewal starts its period past_due: one update, so its second shows one state.
  t.deepEqual(eventTypes(sandbox, seen), [
    'customer.subscription.updated',
    'invoice.payment_failed',
    'invoice.payment_failed',
    'invoice.payment_failed',
    'invoice.payment_failed',
    'customer.subscription.deleted',
  ]);
});

test('a past_due subscription recovers when a retry succeeds with a new card', async (t) => {
  const { sandbox, stripe } = t.context;
  const created = await subscribe(t, 'pm_card_visa');
  sandbox.trigger('payment_failed', String(created.customer));
  t.is((await stripe.subscriptions.retrieve(created.id)).status, 'past_due');
  await stripe.customers.update(String(created.customer), {
    invoice_settings: { default_payment_method: 'pm_card_visa' },
  });
  sandbox.advance(3 * DAY);
  const recovered = await stripe.subscriptions.retrieve(created.id);
  t.is(recovered.status, 'active');
  t.is((await stripe.invoices.retrieve(String(recovered.latest_invoice))).status, 'paid');
});

test('durations: s, m, h, d, w; others are refused', (t) => {
  t.is(parseDuration('31d'), 31 * DAY);
  t.is(parseDuration('12h'), 12 * 3600);
  t.is(parseDuration('90m'), 5400);
  t.is(parseDuration('45s'), 45);
  t.is(parseDuration('2w'), 14 * DAY);
  t.is(parseDuration('600'), 600);
  t.throws(() => parseDuration('1y'), { instanceOf: RangeError });
  t.throws(() => parseDuration('-1d'), { instanceOf: RangeError });
});
