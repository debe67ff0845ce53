/**
 * Sandbox Stripe object builders: charges (reached through `payment_intent`, not an invoice).
 * Shaped on Stripe's fixtures and typed with the SDK's types (stripe-objects.ts).
 */
import type Stripe from 'stripe';
import { nowSeconds, stripeId } from './stripe-values.js';

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
