/**
 * Records a subscription as an event shows it. Versions are kept per event
 * time and the newest wins, so an older event never overwrites a newer
 * state. Two events of the same second cannot be ordered by their
 * timestamps; when they disagree, Stripe itself is asked for the current
 * state, which then wins that second, so every delivery order ends in the
 * same state. A later event of that second may disagree again (a third
 * state within one second): its fetch is recorded as the next fetch of the
 * second and wins over the earlier ones, since records are insert-only.
 */
import type Stripe from 'stripe';
import { shouldPruneOlderVersions } from '../../domain/past-due.js';
import { sameSubscriptionState } from '../../domain/subscription-versions.js';
import { subscriptionDoc } from '../subscription-mapping.js';
import type { WebhookContext } from './types.js';

export async function applySubscription(
  subscription: Stripe.Subscription,
  eventCreated: number,
  context: WebhookContext,
): Promise<void> {
  const projectId = context.project._id;
  const doc = subscriptionDoc(projectId, subscription, eventCreated, context.now);
  if ((await context.subscriptions.record(doc)) === 'recorded') {
    // Reads load every version of a customer's subscriptions: keep only the
    // newest, but past_due versions keep their run (when grace began).
    if (shouldPruneOlderVersions(doc.status)) await context.subscriptions.pruneOlderThan(doc);
    return;
  }
  const sameSecond = await context.subscriptions.getVersion(doc._id);
  if (!sameSecond || sameSubscriptionState(sameSecond, doc)) return;
  const current = await context.stripe.subscriptions.retrieve(subscription.id);
  const statuses = new Set([sameSecond.status, doc.status]);
  // Each turn either records the fetch or passes an earlier fetch of this second that differs.
  for (let fetchSeq = 1; ; fetchSeq += 1) {
    const fetched = subscriptionDoc(projectId, current, eventCreated, context.now, true, fetchSeq);
    const recorded = await context.subscriptions.record({
      ...fetched,
      same_second_statuses: [...statuses],
    });
    if (recorded === 'recorded') return;
    const earlier = await context.subscriptions.getVersion(fetched._id);
    if (!earlier || sameSubscriptionState(earlier, fetched)) return;
    for (const status of earlier.same_second_statuses ?? [earlier.status]) statuses.add(status);
  }
}

/** Fetches a subscription from Stripe and records it as of the event's time. */
export async function refreshSubscription(
  subscriptionId: string,
  eventCreated: number,
  context: WebhookContext,
): Promise<string> {
  const subscription = await context.stripe.subscriptions.retrieve(subscriptionId);
  await applySubscription(subscription, eventCreated, context);
  return typeof subscription.customer === 'string'
    ? subscription.customer
    : subscription.customer.id;
}
