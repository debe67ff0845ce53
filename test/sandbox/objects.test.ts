/**
 * The sandbox's objects beyond what the service calls today, through the
 * real `stripe` SDK: products and prices, subscriptions created, updated
 * and canceled (a declined test card is Stripe's 402 card_error), their
 * invoices, and the event log with Stripe's paging.
 */
import anyTest, { type TestFn } from 'ava';
import Stripe from 'stripe';
import { type Sandbox, startSandbox } from '../../sandbox/index.js';

const test = anyTest as TestFn<{ sandbox: Sandbox; stripe: Stripe }>;
const KEY = 'sk_test_objects';

test.beforeEach(async (t) => {
  t.context.sandbox = await startSandbox({ apiKeys: [KEY] });
  t.context.stripe = t.context.sandbox.makeClient(KEY);
});

test.afterEach.always(async (t) => {
  await t.context.sandbox.close();
});

async function monthlyPrice(stripe: Stripe, amount = 2000): Promise<Stripe.Price> {
  return stripe.prices.create({
    currency: 'usd',
    unit_amount: amount,
    recurring: { interval: 'month' },
    product_data: { name: `Plan ${amount}` },
    lookup_key: `plan_${amount}`,
  });
}

test('products and prices: create, retrieve, list by lookup key and product', async (t) => {
  const { stripe } = t.context;
  const product = await stripe.products.create({ id: 'prod_pro', name: 'Pro' });
  const price = await stripe.prices.create({
    product: product.id,
    currency: 'usd',
    unit_amount: 2000,
    recurring: { interval: 'month' },
    lookup_key: 'pro_monthly',
  });
  t.is(product.object, 'product');
  t.is(price.product, 'prod_pro');
  t.is(price.type, 'recurring');
  t.is(price.recurring?.interval, 'month');
  t.is((await stripe.prices.retrieve(price.id)).unit_amount, 2000);
  const byKey = await stripe.prices.list({ lookup_keys: ['pro_monthly'] });
  t.deepEqual(
    byKey.data.map((p) => p.id),
    [price.id],
  );
  const taken = await t.throwsAsync(
    stripe.prices.create({ product: product.id, currency: 'usd', lookup_key: 'pro_monthly' }),
  );
  t.is((taken as Stripe.errors.StripeError).code, 'lookup_key_already_exists');
  const missing = await t.throwsAsync(
    stripe.prices.create({ product: 'prod_nope', currency: 'usd', unit_amount: 1 }),
  );
  t.is((missing as Stripe.errors.StripeError).code, 'resource_missing');
  t.is((missing as Stripe.errors.StripeError).param, 'product');
});

test('subscriptions.create pays the first invoice; periods live on the items', async (t) => {
  const { stripe } = t.context;
  const price = await monthlyPrice(stripe);
  const customer = await stripe.customers.create({ payment_method: 'pm_card_visa' });
  const subscription = await stripe.subscriptions.create({
    customer: customer.id,
    items: [{ price: price.id, quantity: 3 }],
  });
  t.is(subscription.status, 'active');
  const item = subscription.items.data[0];
  t.is(item?.quantity, 3);
  t.true((item?.current_period_end ?? 0) > (item?.current_period_start ?? 0));
  const invoices = await stripe.invoices.list({ subscription: subscription.id });
  t.is(invoices.data.length, 1);
  t.is(invoices.data[0]?.status, 'paid');
  t.is(invoices.data[0]?.amount_paid, 6000);
  t.is(invoices.data[0]?.parent?.subscription_details?.subscription, subscription.id);
});

test('a declined card is a 402 card_error and creates nothing', async (t) => {
  const { stripe, sandbox } = t.context;
  const price = await monthlyPrice(stripe);
  const customer = await stripe.customers.create({ payment_method: '4000000000000002' });
  const error = await t.throwsAsync(
    stripe.subscriptions.create({ customer: customer.id, items: [{ price: price.id }] }),
  );
  t.true(error instanceof Stripe.errors.StripeCardError);
  const card = error as Stripe.errors.StripeCardError;
  t.is(card.statusCode, 402);
  t.is(card.code, 'card_declined');
  t.is(card.decline_code, 'generic_decline');
  t.is(sandbox.subscriptions(KEY).length, 0);
});

test('update quantity and cancel at period end, then resume; cancel now', async (t) => {
  const { stripe } = t.context;
  const price = await monthlyPrice(stripe);
  const team = await monthlyPrice(stripe, 5000);
  const customer = await stripe.customers.create({});
  const created = await stripe.subscriptions.create({
    customer: customer.id,
    items: [{ price: price.id }],
  });
  const itemId = created.items.data[0]?.id ?? '';
  const upgraded = await stripe.subscriptions.update(created.id, {
    items: [{ id: itemId, price: team.id, quantity: 5 }],
  });
  t.is(upgraded.items.data[0]?.price.id, team.id);
  t.is(upgraded.items.data[0]?.quantity, 5);
  const canceling = await stripe.subscriptions.update(created.id, { cancel_at_period_end: true });
  t.true(canceling.cancel_at_period_end);
  t.is(canceling.cancel_at, canceling.items.data[0]?.current_period_end);
  const resumed = await stripe.subscriptions.update(created.id, { cancel_at_period_end: false });
  t.false(resumed.cancel_at_period_end);
  t.is(resumed.cancel_at, null);
  const canceled = await stripe.subscriptions.cancel(created.id);
  t.is(canceled.status, 'canceled');
  const again = await t.throwsAsync(stripe.subscriptions.cancel(created.id));
  t.is((again as Stripe.errors.StripeError).statusCode, 400);
  const unknown = await t.throwsAsync(stripe.subscriptions.retrieve('sub_nope'));
  t.is((unknown as Stripe.errors.StripeError).statusCode, 404);
  t.is((unknown as Stripe.errors.StripeError).message, "No such subscription: 'sub_nope'");
});

test('/v1/events lists what happened, newest first, with type filters and cursors', async (t) => {
  const { stripe } = t.context;
  const price = await monthlyPrice(stripe);
  const customer = await stripe.customers.create({});
  const subscription = await stripe.subscriptions.create({
    customer: customer.id,
    items: [{ price: price.id }],
  });
  await stripe.subscriptions.update(subscription.id, { metadata: { plan: 'pro' } });
  const all = await stripe.events.list({ limit: 100 });
  t.deepEqual(
    all.data.map((e) => e.type),
    [
      'customer.subscription.updated',
      'invoice.payment_succeeded',
      'invoice.paid',
      'customer.subscription.created',
      'customer.created',
    ],
  );
  const updated = all.data[0] as Stripe.CustomerSubscriptionUpdatedEvent;
  t.deepEqual(updated.data.previous_attributes, { metadata: {} });
  const invoices = await stripe.events.list({ type: 'invoice.*' });
  t.is(invoices.data.length, 2);
  const page = await stripe.events.list({ limit: 2, starting_after: all.data[1]?.id ?? '' });
  t.deepEqual(
    page.data.map((e) => e.type),
    ['invoice.paid', 'customer.subscription.created'],
  );
  t.true(page.has_more);
  t.is((await stripe.events.retrieve(all.data[4]?.id ?? '')).type, 'customer.created');
});
