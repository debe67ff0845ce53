/**
 * Shared by the per-event-type webhook tests (one file per type, named after
 * it): a harness per file, what a customer is entitled to, and the Stripe
 * objects those tests post.
 */
import test from 'ava';
import type Stripe from 'stripe';
import type { CheckoutMode } from '../../gen/billing/v1/checkout_pb.js';
import type { Entitlement } from '../../gen/billing/v1/entitlements_pb.js';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import { makeSubscription, nowSeconds } from '../helpers/stripe-objects.js';

export const day = 24 * 3600;

/** Starts a billing harness before the file's tests and closes it after them. */
export function useBillingHarness(): () => BillingHarness {
  let harness: BillingHarness | undefined;
  test.before(async () => {
    harness = await startBillingHarness();
  });
  test.after.always(async () => {
    await harness?.close();
  });
  return () => {
    if (!harness) throw new Error('the harness has not started');
    return harness;
  };
}

/** What CheckEntitlement answers for one feature of a customer. */
export async function entitlementOf(
  h: BillingHarness,
  customerId: string,
  feature: string,
): Promise<Entitlement> {
  const answer = await h.entitlements.checkEntitlement({ customerId, feature }, h.auth);
  if (!answer.entitlement) throw new Error('no entitlement in the answer');
  return answer.entitlement;
}

export async function allowed(
  h: BillingHarness,
  customerId: string,
  feature: string,
): Promise<boolean> {
  return (await entitlementOf(h, customerId, feature)).allowed;
}

/** A pro subscription (reports, and seats per unit) of 3 seats, in a period begun a day ago. */
export function proSubscription(
  customer: string,
  id: string,
  overrides: Parameters<typeof makeSubscription>[0] = {},
): Stripe.Subscription {
  const start = nowSeconds() - day;
  return makeSubscription({
    id,
    customer,
    status: 'active',
    created: start,
    items: [
      {
        price: 'price_pro_monthly',
        product: 'prod_pro',
        quantity: 3,
        current_period_start: start,
        current_period_end: start + 30 * day,
      },
    ],
    ...overrides,
  });
}

/** A checkout the service really starts (CreateCheckoutSession, through the fake Stripe). */
export function startCheckout(
  h: BillingHarness,
  customerId: string,
  mode: CheckoutMode,
  priceId: string,
) {
  return h.checkout.createCheckoutSession(
    {
      customerId,
      mode,
      lineItems: [{ priceId, quantity: 1n }],
      successUrl: 'https://app.example/ok',
      cancelUrl: 'https://app.example/cancel',
    },
    h.auth,
  );
}
