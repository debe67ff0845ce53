/**
 * Sandbox Stripe object builders: checkout sessions, their line items, and billing portal sessions.
 * Shaped on Stripe's fixtures and typed with the SDK's types (stripe-objects.ts).
 */
import type Stripe from 'stripe';
import { DAY, nowSeconds, stripeId } from './stripe-values.js';

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
