/**
 * Sandbox Stripe object builders: invoices (an invoice links its subscription in `parent.subscription_details`).
 * Shaped on Stripe's fixtures and typed with the SDK's types (stripe-objects.ts).
 */
import type Stripe from 'stripe';
import { decimal } from './price-objects.js';
import { DAY, nowSeconds, stripeId } from './stripe-values.js';

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
