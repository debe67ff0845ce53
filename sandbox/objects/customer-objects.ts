/**
 * Sandbox Stripe object builders: customers.
 * Shaped on Stripe's fixtures and typed with the SDK's types (stripe-objects.ts).
 */
import type Stripe from 'stripe';
import { nowSeconds, stripeId } from './stripe-values.js';

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
