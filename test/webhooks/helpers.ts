/**
 * Shared by the per-event-type webhook tests (one file per type, named after
 * it): a harness per file, what a customer is entitled to, and the Stripe
 * objects those tests post.
 */
import test, { type ExecutionContext } from 'ava';
import type Stripe from 'stripe';
import type { CheckoutMode } from '../../gen/billing/v1/checkout_pb.js';
import type { Entitlement } from '../../gen/billing/v1/entitlements_pb.js';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import {
  makeEvent,
  makeInvoice,
  makeSubscription,
  nowSeconds,
  type SubscriptionSpec,
} from '../helpers/stripe-objects.js';

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

export interface ProSubscriptionSpec extends SubscriptionSpec {
  /** Seats. Default 3. */
  readonly quantity?: number;
  /** When its 30-day period began. Default: a day ago. */
  readonly periodStart?: number;
}

/** A pro subscription (reports, and seats per unit at 20.00 each), active by default. */
export function proSubscription(
  customer: string,
  id: string,
  { quantity = 3, periodStart = nowSeconds() - day, ...overrides }: ProSubscriptionSpec = {},
): Stripe.Subscription {
  return makeSubscription({
    id,
    customer,
    status: 'active',
    created: periodStart,
    items: [
      {
        price: 'price_pro_monthly',
        product: 'prod_pro',
        unit_amount: 2000,
        quantity,
        current_period_start: periodStart,
        current_period_end: periodStart + 30 * day,
      },
    ],
    ...overrides,
  });
}

/**
 * Posts `event` twice, as Stripe does when a delivery's answer is lost: the
 * first is applied, the second is answered 2xx and recorded as a duplicate.
 */
export async function deliverTwice(
  t: ExecutionContext,
  h: BillingHarness,
  event: Stripe.Event,
): Promise<void> {
  t.is((await h.post(event)).body.outcome, 'processed');
  const again = await h.post(event);
  t.is(again.status, 200);
  t.is(again.body.outcome, 'duplicate');
}

/**
 * A pro subscription of a new customer, its period begun ten days ago, in
 * `initial` status as of five days ago; its state as Stripe shows it in a
 * given status; and invoice events of it (an invoice names its subscription,
 * whose state the service then fetches from Stripe).
 */
export async function subscriptionWithInvoices(
  h: BillingHarness,
  customerId: string,
  type: 'invoice.paid' | 'invoice.payment_failed',
  initial: Stripe.Subscription.Status,
) {
  const now = nowSeconds();
  const stripeCustomer = await h.linkCustomer(customerId);
  const id = `sub_${customerId.replaceAll('-', '_')}`;
  const state = (status: Stripe.Subscription.Status, more: SubscriptionSpec = {}) =>
    proSubscription(stripeCustomer, id, { status, periodStart: now - 10 * day, ...more });
  await h.post(
    makeEvent({
      type: 'customer.subscription.updated',
      object: state(initial),
      created: now - 5 * day,
    }),
  );
  const status = type === 'invoice.paid' ? 'paid' : 'open';
  const invoiceEvent = (created: number) =>
    makeEvent({
      type,
      object: makeInvoice({ customer: stripeCustomer, subscription: id, status }),
      created,
    });
  return { now, state, invoiceEvent };
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
