/** Checkout sessions: create (modes `payment` and `subscription`), retrieve, list, line items. */
import type Stripe from 'stripe';
import { invalid, missingParam, noSuch } from '../api/errors.js';
import { LIST_PARAMS, listResponse, OrderedStore } from '../api/paging.js';
import type { Account } from './account.js';
import { chargeOutcome, testCardNumber } from './cards.js';
import type { EmitEvent, RequestContext } from './context.js';
import { idOf } from './ids.js';
import { makeCheckoutSession, makeCustomer, makeLineItem, stripeId } from './stripe-objects.js';
import { startSubscription } from './subscriptions.js';

const CHECKOUT_PARAMS = [
  'mode',
  'line_items',
  'customer',
  'customer_email',
  'success_url',
  'cancel_url',
  'client_reference_id',
  'metadata',
  'subscription_data',
  'payment_intent_data',
  'allow_promotion_codes',
  'automatic_tax',
  'billing_address_collection',
  'consent_collection',
  'customer_creation',
  'customer_update',
  'discounts',
  'expand',
  'expires_at',
  'invoice_creation',
  'locale',
  'payment_method_collection',
  'payment_method_types',
  'phone_number_collection',
  'saved_payment_method_options',
  'submit_type',
  'tax_id_collection',
  'ui_mode',
] as const;

export function createCheckoutSession({
  account,
  params,
  now,
  pages,
}: RequestContext): Stripe.Checkout.Session {
  params.allow(CHECKOUT_PARAMS);
  const modeValue = params.string('mode');
  if (modeValue === undefined) throw missingParam('mode');
  const mode = params.enumValue('mode', ['payment', 'subscription', 'setup'] as const);
  if (mode === 'setup' || mode === undefined) {
    throw invalid('The sandbox does not support `setup` mode.', 'mode');
  }
  const successUrl = params.string('success_url');
  const uiMode = params.string('ui_mode');
  if (
    (successUrl === undefined || successUrl === '') &&
    (uiMode ?? 'hosted_page') === 'hosted_page'
  ) {
    throw missingParam('success_url');
  }
  for (const key of ['success_url', 'cancel_url'] as const) {
    const url = params.string(key);
    if (url !== undefined && !/^https?:\/\/[^\s]+$/.test(url)) {
      throw invalid(`Not a valid URL`, key, 'url_invalid');
    }
  }
  const customerId = params.string('customer');
  if (customerId !== undefined && account.customers.get(customerId) === undefined) {
    throw noSuch('customer', customerId, 'customer');
  }
  const customerEmail = params.string('customer_email');
  if (customerId !== undefined && customerEmail !== undefined) {
    throw invalid(
      'You may only specify one of these parameters: customer, customer_email.',
      'customer_email',
    );
  }
  const clientReferenceId = params.string('client_reference_id');
  if (clientReferenceId !== undefined && clientReferenceId.length > 200) {
    throw invalid('client_reference_id must be at most 200 characters.', 'client_reference_id');
  }

  const items = params.objects('line_items');
  if (items === undefined || items.length === 0) throw missingParam('line_items');
  const lineItems = items.map((item) => {
    item.allow([
      'price',
      'price_data',
      'quantity',
      'adjustable_quantity',
      'tax_rates',
      'dynamic_tax_rates',
    ]);
    if (item.has('price_data')) {
      throw invalid('The sandbox does not support `price_data`.', item.name('price_data'));
    }
    const priceId = item.required('price');
    const price = account.prices.get(priceId);
    if (price === undefined) throw noSuch('price', priceId, item.name('price'));
    if (!price.active) {
      throw invalid(
        'The price specified is inactive. This field only accepts active prices.',
        item.name('price'),
      );
    }
    const quantity = item.integer('quantity', 0, 999_999);
    if (quantity === undefined) {
      throw invalid(
        `Quantity is required. Add \`quantity\` to \`${item.name('quantity').replace(/\[quantity\]$/, '')}\``,
        item.name('quantity'),
        'parameter_missing',
      );
    }
    if (mode === 'payment' && price.recurring !== null) {
      throw invalid(
        'You specified `payment` mode but passed a recurring price. Either switch to ' +
          '`subscription` mode or use only one-time prices.',
        item.name('price'),
      );
    }
    return makeLineItem({ price, quantity });
  });
  const currency = lineItems[0]?.currency ?? 'usd';
  lineItems.forEach((line, index) => {
    if (line.currency !== currency) {
      throw invalid('All prices must be in the same currency.', `line_items[${index}][price]`);
    }
  });
  if (mode === 'subscription' && !lineItems.some((line) => line.price?.recurring != null)) {
    throw invalid(
      'You must provide at least one recurring price in `subscription` mode when using prices.',
      'line_items[0][price]',
    );
  }
  const subscriptionData = params.object('subscription_data');
  subscriptionData?.allow([
    'metadata',
    'trial_period_days',
    'description',
    'trial_end',
    'trial_settings',
  ]);
  if (mode === 'payment' && subscriptionData !== undefined) {
    throw invalid('You can not pass `subscription_data` in `payment` mode.', 'subscription_data');
  }
  const subscriptionMetadata = subscriptionData?.metadata() ?? {};
  const trialPeriodDays = subscriptionData?.integer('trial_period_days', 1, 730);

  const total = lineItems.reduce((sum, line) => sum + line.amount_total, 0);
  const allowPromotionCodes = params.boolean('allow_promotion_codes');
  const session = makeCheckoutSession({
    id: stripeId('cs_test_a1', 56),
    mode,
    status: 'open',
    payment_status: 'unpaid',
    customer: customerId ?? null,
    customer_email: customerEmail ?? null,
    amount_subtotal: total,
    amount_total: total,
    currency,
    client_reference_id: clientReferenceId ?? null,
    metadata: params.metadata() ?? {},
    success_url: successUrl ?? null,
    cancel_url: params.string('cancel_url') ?? null,
    created: now,
    expires_at: now + 24 * 3600,
  });
  session.url = pages.checkout(session.id);
  if (allowPromotionCodes !== undefined) session.allow_promotion_codes = allowPromotionCodes;
  account.checkoutSessions.put(session);
  account.sessionExtras.set(session.id, { lineItems, subscriptionMetadata, trialPeriodDays });
  return withExpansions(account, session, params.strings('expand'));
}

function withExpansions(
  account: Account,
  session: Stripe.Checkout.Session,
  expand: readonly string[],
): Stripe.Checkout.Session {
  if (!expand.includes('line_items')) return session;
  const lineItems = account.sessionExtras.get(session.id)?.lineItems ?? [];
  return {
    ...session,
    line_items: {
      object: 'list',
      data: lineItems,
      has_more: false,
      url: `/v1/checkout/sessions/${session.id}/line_items`,
    },
  };
}

export function retrieveCheckoutSession({
  account,
  params,
  id,
}: RequestContext): Stripe.Checkout.Session {
  params.allow(['expand']);
  const session = account.checkoutSessions.get(id);
  if (session === undefined) throw noSuch('checkout.session', id, 'session', 404);
  return withExpansions(account, session, params.strings('expand'));
}

export function listCheckoutSessions({
  account,
  params,
}: RequestContext): Stripe.ApiList<Stripe.Checkout.Session> {
  params.allow([...LIST_PARAMS, 'customer', 'status', 'subscription', 'payment_intent', 'created']);
  const customer = params.string('customer');
  const status = params.string('status');
  const subscription = params.string('subscription');
  return listResponse(
    account.checkoutSessions,
    params,
    '/v1/checkout/sessions',
    'checkout.session',
    (session) =>
      (customer === undefined || session.customer === customer) &&
      (status === undefined || session.status === status) &&
      (subscription === undefined || session.subscription === subscription),
  );
}

export function listCheckoutLineItems({
  account,
  params,
  id,
}: RequestContext): Stripe.ApiList<Stripe.LineItem> {
  params.allow(LIST_PARAMS);
  if (account.checkoutSessions.get(id) === undefined) {
    throw noSuch('checkout.session', id, 'session', 404);
  }
  const store = new OrderedStore<Stripe.LineItem>();
  // Stripe lists line items in the order given; the store lists newest first.
  for (const item of [...(account.sessionExtras.get(id)?.lineItems ?? [])].reverse()) {
    store.put(item);
  }
  return listResponse(store, params, `/v1/checkout/sessions/${id}/line_items`, 'line item');
}

export interface CompleteCheckoutOptions {
  /** Default `paid`; `unpaid` for a payment that completes later (then `async_payment_succeeded`). */
  readonly payment_status?: Stripe.Checkout.Session.PaymentStatus;
  readonly customer_email?: string;
  /** The test card paid with (number or `pm_card_...`); default 4242 4242 4242 4242. */
  readonly card?: string;
}

export interface CompletedCheckout {
  readonly session: Stripe.Checkout.Session;
  /** The subscription created (subscription mode), already stored. */
  readonly subscription: Stripe.Subscription | null;
  readonly customer: Stripe.Customer;
}

/** Thrown when the buyer's card is declined: the session stays open. */
export class CardDeclinedError extends Error {}

/**
 * What Stripe does when the buyer pays: a customer is created if the
 * session had none, the card becomes its default, in subscription mode a
 * subscription with the session's recurring prices starts (its first
 * invoice paid), and the session becomes `complete`; each step emits its
 * event, `checkout.session.completed` last.
 */
export function completeCheckoutSession(
  account: Account,
  id: string,
  options: CompleteCheckoutOptions,
  now: number,
  emit: EmitEvent,
): CompletedCheckout {
  const session = account.checkoutSessions.get(id);
  if (session === undefined) throw new Error(`sandbox: no checkout session ${id}`);
  if (session.status !== 'open') throw new Error(`sandbox: session ${id} is ${session.status}`);
  const card = testCardNumber(options.card ?? 'pm_card_visa', 'card');
  const customer = checkoutCustomer(account, session, options, now, emit);
  account.cards.set(customer.id, card);
  const extras = account.sessionExtras.get(id);
  let subscription: Stripe.Subscription | null = null;
  let invoice: string | null = null;
  if (session.mode === 'subscription') {
    const started = startSubscription(
      account,
      {
        customer: customer.id,
        items: (extras?.lineItems ?? []).flatMap((line) =>
          line.price?.recurring == null
            ? []
            : [{ price: line.price, quantity: line.quantity ?? 1 }],
        ),
        trialDays: extras?.trialPeriodDays,
        metadata: extras?.subscriptionMetadata ?? {},
        now,
      },
      emit,
    );
    if (started === null) throw new CardDeclinedError('Your card was declined.');
    subscription = started.subscription;
    invoice = started.invoice.id;
  } else if (chargeOutcome(card, false) === 'declined') {
    throw new CardDeclinedError('Your card was declined.');
  }
  const completed: Stripe.Checkout.Session = {
    ...session,
    status: 'complete',
    payment_status: options.payment_status ?? 'paid',
    customer: customer.id,
    customer_details: {
      address: null,
      business_name: null,
      email: customer.email ?? null,
      individual_name: null,
      name: customer.name ?? null,
      phone: null,
      tax_exempt: 'none',
      tax_ids: [],
    },
    subscription: subscription?.id ?? null,
    invoice,
    payment_intent: session.mode === 'payment' ? stripeId('pi_') : null,
    url: null,
  };
  account.checkoutSessions.put(completed);
  emit(account, 'checkout.session.completed', completed);
  return { session: completed, subscription, customer };
}

function checkoutCustomer(
  account: Account,
  session: Stripe.Checkout.Session,
  options: CompleteCheckoutOptions,
  now: number,
  emit: EmitEvent,
): Stripe.Customer {
  const existing =
    session.customer === null ? undefined : account.customers.get(idOf(session.customer));
  if (existing !== undefined) return existing;
  const email = options.customer_email ?? session.customer_email ?? 'buyer@example.com';
  const customer = makeCustomer({ email, created: now });
  account.customers.put(customer);
  emit(account, 'customer.created', customer);
  return customer;
}

/** A delayed payment of a completed session went through: `checkout.session.async_payment_succeeded`. */
export function settleAsyncPayment(
  account: Account,
  id: string,
  emit: EmitEvent,
): Stripe.Checkout.Session {
  const session = account.checkoutSessions.get(id);
  if (session === undefined) throw new Error(`sandbox: no checkout session ${id}`);
  if (session.status !== 'complete' || session.payment_status !== 'unpaid') {
    throw new Error(`sandbox: session ${id} has no pending payment`);
  }
  const paid: Stripe.Checkout.Session = { ...session, payment_status: 'paid' };
  account.checkoutSessions.put(paid);
  emit(account, 'checkout.session.async_payment_succeeded', paid);
  return paid;
}
