/**
 * Builders for the Stripe objects and events the service handles, shaped on
 * Stripe's own fixtures (`stripe/openapi` fixtures3.json) and typed with the
 * SDK's types, so a wrong shape is a compile error. Placeholders of the
 * fixture (`1234567890`, `"message"`, garbage amounts) are replaced with real
 * timestamps, amounts and `null`s.
 *
 * API version 2026-10-28.endive (pinned by `stripe` 23.x):
 * - `current_period_start/end` live on each subscription item;
 * - an invoice links its subscription in `invoice.parent.subscription_details`;
 * - a charge has no `invoice`: reach it through `payment_intent`.
 *
 * Where fixtures3.json and the SDK types disagree, these builders follow the
 * types (see the notes next to the fields).
 */
import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';

/** The API version that `stripe` 23.x pins and that events carry. */
export const STRIPE_API_VERSION = '2026-10-28.endive';

const DAY = 86_400;
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A Stripe-looking id: `prefix` + `length` random base-62 characters. */
export function stripeId(prefix: string, length = 24): string {
  const bytes = randomBytes(length);
  let out = prefix;
  for (const byte of bytes) out += ALPHABET[byte % ALPHABET.length];
  return out;
}

/** Now, in Unix seconds (Stripe's unit for every timestamp). */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

export type Interval = Stripe.Price.Recurring.Interval;

/** `start` plus `count` intervals, with calendar months and years (UTC), like Stripe. */
export function addInterval(start: number, interval: Interval, count = 1): number {
  const date = new Date(start * 1000);
  switch (interval) {
    case 'day':
      return start + count * DAY;
    case 'week':
      return start + count * 7 * DAY;
    case 'month':
      date.setUTCMonth(date.getUTCMonth() + count);
      return Math.floor(date.getTime() / 1000);
    case 'year':
      date.setUTCFullYear(date.getUTCFullYear() + count);
      return Math.floor(date.getTime() / 1000);
    default:
      throw new Error(`unknown interval ${interval}`);
  }
}

function decimal(value: number | null): Stripe.Decimal | null {
  // The types say Decimal (the SDK turns `*_decimal` strings of API responses
  // into Decimal objects); JSON.stringify writes it back as the string Stripe sends.
  return value === null ? null : Stripe.Decimal.from(String(value));
}

// --- Prices ---

export interface PriceSpec {
  readonly id?: string;
  readonly product?: string;
  readonly currency?: string;
  readonly unit_amount?: number | null;
  /** Omit or `null` for a one-time price. */
  readonly recurring?: {
    readonly interval: Interval;
    readonly interval_count?: number;
    readonly trial_period_days?: number | null;
  } | null;
  readonly active?: boolean;
  readonly created?: number;
  readonly nickname?: string | null;
  readonly lookup_key?: string | null;
  readonly metadata?: Stripe.Metadata;
}

/** A full `Stripe.Price` (fixture `resources.price`). */
export function makePrice(spec: PriceSpec = {}): Stripe.Price {
  const unitAmount = spec.unit_amount === undefined ? 2000 : spec.unit_amount;
  const recurring = spec.recurring ?? null;
  return {
    id: spec.id ?? stripeId('price_'),
    object: 'price',
    active: spec.active ?? true,
    billing_scheme: 'per_unit',
    created: spec.created ?? nowSeconds(),
    currency: spec.currency ?? 'usd',
    custom_unit_amount: null,
    livemode: false,
    lookup_key: spec.lookup_key ?? null,
    metadata: { ...spec.metadata },
    nickname: spec.nickname ?? null,
    product: spec.product ?? stripeId('prod_', 14),
    recurring:
      recurring === null
        ? null
        : {
            interval: recurring.interval,
            interval_count: recurring.interval_count ?? 1,
            meter: null,
            trial_period_days: recurring.trial_period_days ?? null,
            usage_type: 'licensed',
          },
    tax_behavior: 'unspecified',
    tiers_mode: null,
    transform_quantity: null,
    type: recurring === null ? 'one_time' : 'recurring',
    unit_amount: unitAmount,
    unit_amount_decimal: decimal(unitAmount),
  };
}

/** The legacy `plan` that Stripe still puts on subscription items, derived from a recurring price. */
export function planFromPrice(price: Stripe.Price): Stripe.Plan {
  const recurring = price.recurring;
  if (recurring === null) throw new Error(`price ${price.id} is not recurring`);
  return {
    id: price.id,
    object: 'plan',
    active: price.active,
    amount: price.unit_amount,
    amount_decimal: price.unit_amount_decimal,
    billing_scheme: price.billing_scheme,
    created: price.created,
    currency: price.currency,
    interval: recurring.interval,
    interval_count: recurring.interval_count,
    livemode: false,
    metadata: {},
    meter: null,
    nickname: price.nickname,
    product: price.product,
    tiers_mode: null,
    transform_usage: null,
    trial_period_days: recurring.trial_period_days,
    usage_type: recurring.usage_type,
  };
}

// --- Customers ---

export interface CustomerSpec {
  readonly id?: string;
  readonly email?: string | null;
  readonly name?: string | null;
  readonly description?: string | null;
  readonly phone?: string | null;
  readonly created?: number;
  readonly metadata?: Stripe.Metadata;
}

/** A full `Stripe.Customer` (fixture `resources.customer`). */
export function makeCustomer(spec: CustomerSpec = {}): Stripe.Customer {
  return {
    id: spec.id ?? stripeId('cus_', 14),
    object: 'customer',
    address: null,
    balance: 0,
    created: spec.created ?? nowSeconds(),
    currency: null,
    default_source: null,
    delinquent: false,
    description: spec.description ?? null,
    discount: null,
    email: spec.email ?? null,
    invoice_prefix: stripeId('', 8).toUpperCase(),
    invoice_settings: {
      custom_fields: null,
      default_payment_method: null,
      footer: null,
      rendering_options: null,
    },
    livemode: false,
    metadata: { ...spec.metadata },
    name: spec.name ?? null,
    next_invoice_sequence: 1,
    phone: spec.phone ?? null,
    preferred_locales: [],
    shipping: null,
    tax_exempt: 'none',
    test_clock: null,
  };
}

// --- Subscriptions ---

export interface SubscriptionItemSpec {
  readonly id?: string;
  /** A price id (the price is built from the other fields) or a full price. */
  readonly price: string | Stripe.Price;
  readonly product?: string;
  readonly quantity?: number;
  readonly interval?: Interval;
  readonly interval_count?: number;
  readonly unit_amount?: number;
  readonly currency?: string;
  readonly current_period_start?: number;
  readonly current_period_end?: number;
  readonly created?: number;
  readonly metadata?: Stripe.Metadata;
}

export interface SubscriptionSpec {
  readonly id?: string;
  readonly customer?: string;
  readonly status?: Stripe.Subscription.Status;
  /** Default: one item, a monthly 20.00 USD price. */
  readonly items?: readonly SubscriptionItemSpec[];
  readonly created?: number;
  /** Default for every item's `current_period_start`: `created`. */
  readonly current_period_start?: number;
  readonly cancel_at_period_end?: boolean;
  /** Default: the period end when `cancel_at_period_end`, else null. */
  readonly cancel_at?: number | null;
  /** Default: `now` for a canceled subscription, else null. */
  readonly canceled_at?: number | null;
  readonly ended_at?: number | null;
  readonly trial_start?: number | null;
  /** Default: the period end for a `trialing` subscription, else null. */
  readonly trial_end?: number | null;
  readonly currency?: string;
  readonly metadata?: Stripe.Metadata;
  readonly latest_invoice?: string | null;
  readonly collection_method?: Stripe.Subscription.CollectionMethod;
  readonly description?: string | null;
}

function itemPrice(spec: SubscriptionItemSpec, currency: string, created: number): Stripe.Price {
  if (typeof spec.price !== 'string') return spec.price;
  return makePrice({
    id: spec.price,
    created,
    currency: spec.currency ?? currency,
    unit_amount: spec.unit_amount ?? 2000,
    recurring: { interval: spec.interval ?? 'month', interval_count: spec.interval_count ?? 1 },
    ...(spec.product === undefined ? {} : { product: spec.product }),
  });
}

/** A full `Stripe.SubscriptionItem` of subscription `subscriptionId`. */
export function makeSubscriptionItem(
  spec: SubscriptionItemSpec,
  subscriptionId: string,
  defaults: { readonly currency?: string; readonly created?: number; readonly start?: number } = {},
): Stripe.SubscriptionItem {
  const created = spec.created ?? defaults.created ?? nowSeconds();
  const price = itemPrice(spec, defaults.currency ?? 'usd', created);
  const recurring = price.recurring;
  if (recurring === null) throw new Error(`subscription item price ${price.id} is not recurring`);
  const start = spec.current_period_start ?? defaults.start ?? created;
  return {
    id: spec.id ?? stripeId('si_', 14),
    object: 'subscription_item',
    billing_thresholds: null,
    created,
    current_period_end:
      spec.current_period_end ?? addInterval(start, recurring.interval, recurring.interval_count),
    current_period_start: start,
    current_trial: null,
    discounts: [],
    metadata: { ...spec.metadata },
    plan: planFromPrice(price),
    price,
    quantity: spec.quantity ?? 1,
    subscription: subscriptionId,
    tax_rates: [],
  };
}

/**
 * A full `Stripe.Subscription` (fixture `resources.subscription`), with its
 * periods on the items. Note: `cancellation_details.feedback_option` and
 * `trial_settings.end_behavior.billing_cycle_anchor` are required by the types
 * but absent from the fixture; `transfer_data` is null (the fixture's
 * `{ id, object }` destination is not a valid `string | Account`).
 */
export function makeSubscription(spec: SubscriptionSpec = {}): Stripe.Subscription {
  const id = spec.id ?? stripeId('sub_');
  const created = spec.created ?? nowSeconds();
  const currency = spec.currency ?? 'usd';
  const start = spec.current_period_start ?? created;
  const itemSpecs = spec.items ?? [{ price: stripeId('price_') }];
  const items = itemSpecs.map((item) =>
    makeSubscriptionItem(item, id, { currency, created, start }),
  );
  const status = spec.status ?? 'active';
  const periodEnd = items.reduce(
    (end, item) => Math.min(end, item.current_period_end),
    Number.POSITIVE_INFINITY,
  );
  const firstEnd = Number.isFinite(periodEnd) ? periodEnd : addInterval(start, 'month');
  const cancelAtPeriodEnd = spec.cancel_at_period_end ?? false;
  const canceledAt =
    spec.canceled_at !== undefined
      ? spec.canceled_at
      : status === 'canceled' || cancelAtPeriodEnd
        ? nowSeconds()
        : null;
  const trialEnd =
    spec.trial_end !== undefined ? spec.trial_end : status === 'trialing' ? firstEnd : null;
  const trialStart =
    spec.trial_start !== undefined ? spec.trial_start : trialEnd === null ? null : created;
  return {
    id,
    object: 'subscription',
    application: null,
    application_fee_percent: null,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null },
    billing_cycle_anchor: start,
    billing_cycle_anchor_config: null,
    billing_mode: { flexible: null, type: 'classic' },
    billing_schedules: [],
    billing_thresholds: null,
    cancel_at: spec.cancel_at !== undefined ? spec.cancel_at : cancelAtPeriodEnd ? firstEnd : null,
    cancel_at_period_end: cancelAtPeriodEnd,
    canceled_at: canceledAt,
    cancellation_details: {
      comment: null,
      feedback: null,
      feedback_option: null,
      reason: status === 'canceled' || cancelAtPeriodEnd ? 'cancellation_requested' : null,
    },
    collection_method: spec.collection_method ?? 'charge_automatically',
    created,
    currency,
    customer: spec.customer ?? stripeId('cus_', 14),
    customer_account: null,
    days_until_due: null,
    default_payment_method: null,
    default_source: null,
    default_tax_rates: [],
    description: spec.description ?? null,
    discounts: [],
    ended_at:
      spec.ended_at !== undefined ? spec.ended_at : status === 'canceled' ? canceledAt : null,
    invoice_settings: {
      account_tax_ids: null,
      custom_fields: null,
      description: null,
      footer: null,
      issuer: { type: 'self' },
    },
    items: {
      object: 'list',
      data: items,
      has_more: false,
      url: `/v1/subscription_items?subscription=${id}`,
    },
    latest_invoice: spec.latest_invoice ?? null,
    livemode: false,
    managed_payments: null,
    metadata: { ...spec.metadata },
    next_pending_invoice_item_invoice: null,
    on_behalf_of: null,
    pause_collection: null,
    payment_settings: {
      payment_method_options: null,
      payment_method_types: null,
      save_default_payment_method: 'off',
    },
    pending_invoice_item_interval: null,
    pending_setup_intent: null,
    pending_update: null,
    schedule: null,
    start_date: created,
    status,
    test_clock: null,
    transfer_data: null,
    trial_end: trialEnd,
    trial_settings: {
      end_behavior: { billing_cycle_anchor: null, missing_payment_method: 'create_invoice' },
    },
    trial_start: trialStart,
  };
}

// --- Checkout sessions ---

export interface LineItemSpec {
  readonly id?: string;
  readonly price: Stripe.Price;
  readonly quantity?: number;
  readonly description?: string | null;
}

/** A Checkout line item (`checkout.sessions.listLineItems`, `expand: ['line_items']`). */
export function makeLineItem(spec: LineItemSpec): Stripe.LineItem {
  const quantity = spec.quantity ?? 1;
  const amount = (spec.price.unit_amount ?? 0) * quantity;
  return {
    id: spec.id ?? stripeId('li_'),
    object: 'item',
    adjustable_quantity: null,
    amount_discount: 0,
    amount_subtotal: amount,
    amount_tax: 0,
    amount_total: amount,
    currency: spec.price.currency,
    description: spec.description ?? spec.price.nickname,
    metadata: {},
    price: spec.price,
    quantity,
  };
}

export interface CheckoutSessionSpec {
  readonly id?: string;
  readonly mode: 'payment' | 'subscription';
  readonly customer?: string | null;
  readonly customer_email?: string | null;
  readonly subscription?: string | null;
  readonly payment_intent?: string | null;
  readonly invoice?: string | null;
  readonly status?: Stripe.Checkout.Session.Status;
  readonly payment_status?: Stripe.Checkout.Session.PaymentStatus;
  /**
   * Sets `line_items` as if the session was retrieved with
   * `expand: ['line_items']`. Webhook events never carry them.
   */
  readonly line_items?: readonly LineItemSpec[];
  readonly amount_subtotal?: number | null;
  readonly amount_total?: number | null;
  readonly currency?: string | null;
  readonly client_reference_id?: string | null;
  readonly metadata?: Stripe.Metadata;
  readonly success_url?: string | null;
  readonly cancel_url?: string | null;
  readonly created?: number;
  readonly expires_at?: number;
}

/** A full `Stripe.Checkout.Session` (fixture `resources["checkout.session"]`). */
export function makeCheckoutSession(spec: CheckoutSessionSpec): Stripe.Checkout.Session {
  const id = spec.id ?? stripeId('cs_test_a1', 56);
  const created = spec.created ?? nowSeconds();
  const status = spec.status ?? 'complete';
  const lineItems = spec.line_items?.map(makeLineItem);
  const computedTotal = lineItems?.reduce((sum, item) => sum + item.amount_total, 0) ?? null;
  const currency = spec.currency ?? lineItems?.[0]?.currency ?? 'usd';
  const customer = spec.customer ?? null;
  const email = spec.customer_email ?? null;
  const session: Stripe.Checkout.Session = {
    id,
    object: 'checkout.session',
    adaptive_pricing: { enabled: false },
    after_expiration: null,
    allow_promotion_codes: null,
    allowed_payment_method_types: null,
    amount_subtotal: spec.amount_subtotal !== undefined ? spec.amount_subtotal : computedTotal,
    amount_total: spec.amount_total !== undefined ? spec.amount_total : computedTotal,
    automatic_tax: { enabled: false, liability: null, provider: null, status: null },
    billing_address_collection: null,
    cancel_url: spec.cancel_url !== undefined ? spec.cancel_url : 'https://example.com/cancel',
    client_reference_id: spec.client_reference_id ?? null,
    client_secret: null,
    collected_information: null,
    consent: null,
    consent_collection: null,
    created,
    currency,
    currency_conversion: null,
    custom_fields: [],
    custom_text: {
      after_submit: null,
      shipping_address: null,
      submit: null,
      terms_of_service_acceptance: null,
    },
    customer,
    customer_account: null,
    customer_creation:
      customer === null ? (spec.mode === 'payment' ? 'if_required' : 'always') : null,
    customer_details:
      status === 'complete'
        ? {
            address: null,
            business_name: null,
            email,
            individual_name: null,
            name: null,
            phone: null,
            tax_exempt: 'none',
            tax_ids: [],
          }
        : null,
    customer_email: email,
    discounts: [],
    expires_at: spec.expires_at ?? created + DAY,
    integration_identifier: null,
    invoice: spec.invoice ?? null,
    invoice_creation:
      spec.mode === 'payment'
        ? {
            enabled: false,
            invoice_data: {
              account_tax_ids: null,
              custom_fields: null,
              description: null,
              footer: null,
              issuer: null,
              metadata: {},
              rendering_options: null,
            },
          }
        : null,
    livemode: false,
    locale: null,
    managed_payments: null,
    metadata: { ...spec.metadata },
    mode: spec.mode,
    origin_context: null,
    payment_intent: spec.payment_intent ?? null,
    payment_link: null,
    payment_method_collection: spec.mode === 'subscription' ? 'always' : null,
    payment_method_configuration_details: null,
    payment_method_options: {},
    payment_method_types: ['card'],
    payment_status: spec.payment_status ?? (status === 'complete' ? 'paid' : 'unpaid'),
    permissions: null,
    phone_number_collection: { enabled: false },
    recovered_from: null,
    saved_payment_method_options: null,
    setup_intent: null,
    shipping_address_collection: null,
    shipping_cost: null,
    shipping_options: [],
    status,
    submit_type: null,
    subscription: spec.subscription ?? null,
    success_url: spec.success_url !== undefined ? spec.success_url : 'https://example.com/success',
    total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
    ui_mode: 'hosted_page',
    url: status === 'open' ? `https://checkout.stripe.com/c/pay/${id}` : null,
    wallet_options: null,
  };
  if (lineItems !== undefined) {
    session.line_items = {
      object: 'list',
      data: lineItems,
      has_more: false,
      url: `/v1/checkout/sessions/${id}/line_items`,
    };
  }
  return session;
}

// --- Billing portal sessions ---

export interface PortalSessionSpec {
  readonly id?: string;
  readonly customer: string;
  readonly return_url?: string | null;
  readonly configuration?: string;
  readonly created?: number;
}

/** A full `Stripe.BillingPortal.Session` (fixture `resources["billing_portal.session"]`). */
export function makePortalSession(spec: PortalSessionSpec): Stripe.BillingPortal.Session {
  return {
    id: spec.id ?? stripeId('bps_'),
    object: 'billing_portal.session',
    configuration: spec.configuration ?? stripeId('bpc_'),
    created: spec.created ?? nowSeconds(),
    customer: spec.customer,
    customer_account: null,
    flow: null,
    livemode: false,
    locale: null,
    on_behalf_of: null,
    return_url: spec.return_url ?? null,
    url: `https://billing.stripe.com/p/session/test_${stripeId('', 40)}`,
  };
}

// --- Invoices ---

export interface InvoiceLineSpec {
  readonly price: Stripe.Price;
  readonly quantity?: number;
  readonly subscription_item?: string;
  readonly period_start?: number;
  readonly period_end?: number;
}

export interface InvoiceSpec {
  readonly id?: string;
  readonly customer: string;
  /** Links the invoice to a subscription (`parent.subscription_details.subscription`). */
  readonly subscription?: string | null;
  readonly status?: Stripe.Invoice.Status;
  readonly billing_reason?: Stripe.Invoice.BillingReason;
  readonly currency?: string;
  /** Default: the sum of the lines, else 2000. */
  readonly amount_due?: number;
  /** Default: `amount_due` when `status` is `paid`, else 0. */
  readonly amount_paid?: number;
  readonly attempt_count?: number;
  readonly next_payment_attempt?: number | null;
  readonly lines?: readonly InvoiceLineSpec[];
  readonly period_start?: number;
  readonly period_end?: number;
  readonly created?: number;
  readonly metadata?: Stripe.Metadata;
}

/**
 * A full `Stripe.Invoice` (fixture `resources.invoice`). The fixture still has
 * a top-level `subscription: null`, which the 2026-10-28 types do not have:
 * the link lives in `parent.subscription_details.subscription`.
 */
export function makeInvoice(spec: InvoiceSpec): Stripe.Invoice {
  const id = spec.id ?? stripeId('in_');
  const created = spec.created ?? nowSeconds();
  const subscription = spec.subscription ?? null;
  const status = spec.status ?? 'paid';
  const lines = (spec.lines ?? []).map((line): Stripe.InvoiceLineItem => {
    const quantity = line.quantity ?? 1;
    const amount = (line.price.unit_amount ?? 0) * quantity;
    const product =
      typeof line.price.product === 'string' ? line.price.product : line.price.product.id;
    return {
      id: stripeId('il_'),
      object: 'line_item',
      amount,
      currency: line.price.currency,
      description: `${quantity} × ${line.price.nickname ?? product}`,
      discount_amounts: [],
      discountable: true,
      discounts: [],
      invoice: id,
      livemode: false,
      metadata: {},
      parent:
        subscription === null
          ? null
          : {
              invoice_item_details: null,
              subscription_item_details: {
                invoice_item: null,
                proration: false,
                proration_details: { credited_items: null },
                subscription,
                subscription_item: line.subscription_item ?? stripeId('si_', 14),
              },
              type: 'subscription_item_details',
            },
      period: {
        start: line.period_start ?? spec.period_start ?? created,
        end: line.period_end ?? spec.period_end ?? created,
      },
      pretax_credit_amounts: [],
      pricing: {
        price_details: { price: line.price.id, product },
        type: 'price_details',
        unit_amount_decimal: line.price.unit_amount_decimal,
      },
      quantity,
      quantity_decimal: decimal(quantity),
      subscription,
      subtotal: amount,
      taxes: [],
    };
  });
  const linesTotal = lines.reduce((sum, line) => sum + line.amount, 0);
  const amountDue = spec.amount_due ?? (lines.length > 0 ? linesTotal : 2000);
  const amountPaid = spec.amount_paid ?? (status === 'paid' ? amountDue : 0);
  return {
    id,
    object: 'invoice',
    account_country: 'US',
    account_name: null,
    account_tax_ids: null,
    amount_due: amountDue,
    amount_overpaid: 0,
    amount_paid: amountPaid,
    amount_remaining: amountDue - amountPaid,
    amount_shipping: 0,
    application: null,
    attempt_count: spec.attempt_count ?? 1,
    attempted: true,
    auto_advance: false,
    automatic_tax: {
      disabled_reason: null,
      enabled: false,
      liability: null,
      provider: null,
      status: null,
    },
    automatically_finalizes_at: null,
    billing_reason:
      spec.billing_reason ?? (subscription === null ? 'manual' : 'subscription_cycle'),
    collection_method: 'charge_automatically',
    created,
    currency: spec.currency ?? lines[0]?.currency ?? 'usd',
    custom_fields: null,
    customer: spec.customer,
    customer_account: null,
    customer_address: null,
    customer_email: null,
    customer_name: null,
    customer_phone: null,
    customer_shipping: null,
    customer_tax_exempt: 'none',
    customer_tax_ids: [],
    default_payment_method: null,
    default_source: null,
    default_tax_rates: [],
    description: null,
    discounts: [],
    due_date: null,
    effective_at: created,
    ending_balance: 0,
    footer: null,
    from_invoice: null,
    hosted_invoice_url: `https://invoice.stripe.com/i/${id}`,
    invoice_pdf: `https://pay.stripe.com/invoice/${id}/pdf`,
    issuer: { type: 'self' },
    last_finalization_error: null,
    latest_revision: null,
    lines: { object: 'list', data: lines, has_more: false, url: `/v1/invoices/${id}/lines` },
    livemode: false,
    metadata: { ...spec.metadata },
    next_payment_attempt:
      spec.next_payment_attempt !== undefined
        ? spec.next_payment_attempt
        : status === 'open'
          ? created + 3 * DAY
          : null,
    number: `${stripeId('', 8).toUpperCase()}-0001`,
    on_behalf_of: null,
    parent:
      subscription === null
        ? null
        : {
            quote_details: null,
            subscription_details: { metadata: {}, subscription },
            type: 'subscription_details',
          },
    payment_settings: {
      default_mandate: null,
      payment_method_options: null,
      payment_method_types: null,
    },
    period_end: spec.period_end ?? created,
    period_start: spec.period_start ?? created,
    post_payment_credit_notes_amount: 0,
    pre_payment_credit_notes_amount: 0,
    receipt_number: null,
    rendering: null,
    shipping_cost: null,
    shipping_details: null,
    starting_balance: 0,
    statement_descriptor: null,
    status,
    status_transitions: {
      finalized_at: created,
      marked_uncollectible_at: null,
      paid_at: status === 'paid' ? created : null,
      voided_at: null,
    },
    subtotal: amountDue,
    subtotal_excluding_tax: amountDue,
    test_clock: null,
    total: amountDue,
    total_discount_amounts: [],
    total_excluding_tax: amountDue,
    total_pretax_credit_amounts: [],
    total_taxes: [],
    webhooks_delivered_at: created,
  };
}

// --- Charges ---

export interface ChargeSpec {
  readonly id?: string;
  readonly amount?: number;
  readonly amount_refunded?: number;
  /** Default: `amount_refunded >= amount`. */
  readonly refunded?: boolean;
  readonly payment_intent?: string | null;
  readonly customer?: string | null;
  readonly currency?: string;
  readonly created?: number;
  readonly metadata?: Stripe.Metadata;
}

/**
 * A full `Stripe.Charge` (fixture `resources.charge`). In this API version a
 * charge has no `invoice`: link it to a purchase through `payment_intent`.
 * `refunds` is omitted, as Stripe does unless it is expanded.
 */
export function makeCharge(spec: ChargeSpec = {}): Stripe.Charge {
  const id = spec.id ?? stripeId('ch_');
  const amount = spec.amount ?? 2000;
  const amountRefunded = spec.amount_refunded ?? (spec.refunded === true ? amount : 0);
  return {
    id,
    object: 'charge',
    amount,
    amount_captured: amount,
    amount_refunded: amountRefunded,
    application: null,
    application_fee: null,
    application_fee_amount: null,
    balance_transaction: stripeId('txn_'),
    billing_details: {
      address: null,
      email: null,
      name: null,
      phone: null,
      tax_id: null,
    },
    calculated_statement_descriptor: 'BILLING',
    captured: true,
    created: spec.created ?? nowSeconds(),
    currency: spec.currency ?? 'usd',
    customer: spec.customer ?? null,
    description: null,
    disputed: false,
    failure_balance_transaction: null,
    failure_code: null,
    failure_message: null,
    fraud_details: {},
    livemode: false,
    metadata: { ...spec.metadata },
    on_behalf_of: null,
    outcome: {
      advice_code: null,
      network_advice_code: null,
      network_decline_code: null,
      network_status: 'approved_by_network',
      reason: null,
      risk_level: 'normal',
      seller_message: 'Payment complete.',
      type: 'authorized',
    },
    paid: true,
    payment_intent: spec.payment_intent ?? stripeId('pi_'),
    payment_method: stripeId('pm_'),
    payment_method_details: null,
    receipt_email: null,
    receipt_number: null,
    receipt_url: `https://pay.stripe.com/receipts/payment/${stripeId('', 40)}`,
    refunded: spec.refunded ?? amountRefunded >= amount,
    review: null,
    shipping: null,
    source: null,
    source_transfer: null,
    statement_descriptor: null,
    statement_descriptor_suffix: null,
    status: 'succeeded',
    transfer_data: null,
    transfer_group: null,
  };
}

// --- Events ---

export type EventType = Stripe.Event['type'];
/** The member of the `Stripe.Event` union with type `T`. */
export type EventOf<T extends EventType> = Extract<Stripe.Event, { type: T }>;
export type EventObject<T extends EventType> = EventOf<T>['data']['object'];
export type EventPreviousAttributes<T extends EventType> = NonNullable<
  EventOf<T>['data']['previous_attributes']
>;

export interface EventSpec<T extends EventType> {
  readonly id?: string;
  readonly type: T;
  /** Default: now. Stripe orders nothing; `created` is the only clock an event carries. */
  readonly created?: number;
  readonly object: EventObject<T>;
  /** For `*.updated` events: the changed fields with their old values. */
  readonly previous_attributes?: EventPreviousAttributes<T>;
  readonly api_version?: string | null;
  readonly pending_webhooks?: number;
  readonly request?: Stripe.Event.Request | null;
}

/**
 * A full `Stripe.Event` (fixture `resources.event`), typed by its `type`:
 * `makeEvent({ type: 'customer.subscription.updated', object: sub })` is a
 * `Stripe.CustomerSubscriptionUpdatedEvent`, and a wrong `object` is a compile error.
 */
export function makeEvent<T extends EventType>(spec: EventSpec<T>): EventOf<T> {
  const data: Stripe.Event.Data = { object: spec.object };
  if (spec.previous_attributes !== undefined) {
    data.previous_attributes = spec.previous_attributes;
  }
  const event: Stripe.EventBase = {
    id: spec.id ?? stripeId('evt_'),
    object: 'event',
    api_version: spec.api_version === undefined ? STRIPE_API_VERSION : spec.api_version,
    created: spec.created ?? nowSeconds(),
    data,
    livemode: false,
    pending_webhooks: spec.pending_webhooks ?? 1,
    request:
      spec.request === undefined
        ? { id: stripeId('req_', 14), idempotency_key: null }
        : spec.request,
    type: spec.type,
  };
  // `data` was built from EventObject<T> and EventPreviousAttributes<T>, and
  // `type` is T, so the event is the union member for T; TypeScript cannot
  // narrow a union by a generic discriminant on its own.
  return event as EventOf<T>;
}

export interface SignedWebhook {
  /** The raw request body, exactly as signed. */
  readonly body: string;
  /** The `Stripe-Signature` header value. */
  readonly header: string;
}

/**
 * Signs an event (or any raw payload, e.g. invalid JSON) as Stripe would for
 * the endpoint secret `secret` (`whsec_...`). `timestamp` (Unix seconds,
 * default now) lets a test send stale signatures.
 */
export function signedWebhook(
  event: Stripe.Event | string,
  secret: string,
  timestamp: number = nowSeconds(),
): SignedWebhook {
  const body = typeof event === 'string' ? event : JSON.stringify(event);
  const header = Stripe.webhooks.generateTestHeaderString({ payload: body, secret, timestamp });
  return { body, header };
}

/**
 * A `customer.subscription.created` event body (to be signed) whose subscription has
 * no items: the handler fails on it the same way every time, so the service
 * gives it up after its attempts (dead-letter tests). `customer` should be
 * the project's own, or the event is ignored before the handler runs.
 */
export function unappliableSubscriptionEvent(
  customer: string,
  subscriptionId: string,
): { readonly id: string; readonly body: string } {
  const event = makeEvent({
    type: 'customer.subscription.created',
    object: makeSubscription({ customer }),
  });
  const body = JSON.stringify({
    ...event,
    data: { object: { id: subscriptionId, object: 'subscription', customer } },
  });
  return { id: event.id, body };
}
