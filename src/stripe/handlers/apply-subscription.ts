/**
 * Records a subscription as an event shows it. Versions are kept per event
 * time and the newest wins, so an older event never overwrites a newer
 * state. Two events of the same second cannot be ordered by their
 * timestamps; when they disagree, Stripe itself is asked for the current
 * state, which then wins that second, so every delivery order ends in the
 * same state.
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
  await context.subscriptions.record({
    ...subscriptionDoc(projectId, current, eventCreated, context.now, true),
    same_second_statuses: [...new Set([sameSecond.status, doc.status])],
  });
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
