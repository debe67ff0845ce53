/**
 * Stripe objects to our documents. Pure. In the API version the SDK pins,
 * billing periods live on subscription items, not on the subscription.
 */
import type Stripe from 'stripe';
import type { SubscriptionDoc, SubscriptionItemDoc } from '../store/documents.js';

export function stripeId(value: string | { id: string } | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  return typeof value === 'string' ? value : value.id;
}

const fromSeconds = (seconds: number | null | undefined): Date | null =>
  seconds === null || seconds === undefined ? null : new Date(seconds * 1000);

function subscriptionItemDoc(item: Stripe.SubscriptionItem): SubscriptionItemDoc {
  return {
    id: item.id,
    price_id: item.price.id,
    product_id: stripeId(item.price.product) ?? '',
    quantity: item.quantity ?? 1,
    current_period_start: fromSeconds(item.current_period_start),
    current_period_end: fromSeconds(item.current_period_end),
    unit_amount: item.price.unit_amount,
    currency: item.price.currency,
    interval: item.price.recurring?.interval ?? null,
    interval_count: item.price.recurring?.interval_count ?? 1,
  };
}

/**
 * The document for a subscription as an event of time `eventCreated`
 * (seconds) shows it; fetched from Stripe to settle that second, as its
 * `fetchSeq`-th fetch (the first keeps the id it always had).
 */
export function subscriptionDoc(
  projectId: string,
  subscription: Stripe.Subscription,
  eventCreated: number,
  now: Date,
  fetchedFromStripe = false,
  fetchSeq = 1,
): SubscriptionDoc {
  const version = `${projectId}:${subscription.id}:${eventCreated}`;
  const fetchedId = fetchSeq === 1 ? `${version}:stripe` : `${version}:stripe:${fetchSeq}`;
  return {
    _id: fetchedFromStripe ? fetchedId : version,
    project_id: projectId,
    stripe_subscription_id: subscription.id,
    stripe_customer_id: stripeId(subscription.customer) ?? '',
    status: subscription.status,
    items: subscription.items.data.map(subscriptionItemDoc),
    cancel_at_period_end: subscription.cancel_at_period_end,
    cancel_at: fromSeconds(subscription.cancel_at),
    canceled_at: fromSeconds(subscription.canceled_at),
    ended_at: fromSeconds(subscription.ended_at),
    trial_end: fromSeconds(subscription.trial_end),
    currency: subscription.currency,
    created: new Date(subscription.created * 1000),
    event_created: eventCreated,
    fetched_from_stripe: fetchedFromStripe,
    ...(fetchedFromStripe && fetchSeq > 1 ? { fetch_seq: fetchSeq } : {}),
    updated_at: now,
  };
}
