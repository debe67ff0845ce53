/**
 * What happens when the test clock passes a subscription's period end: a
 * subscription set to cancel at period end ends; any other starts its next
 * period (new `current_period_start/end` on every item; a trial ends and
 * the subscription becomes `active`) and pays a `subscription_cycle`
 * invoice, whose failure starts dunning. Due dunning retries run too.
 */
import type Stripe from 'stripe';
import type { Account } from '../objects/account.js';
import type { EmitEvent } from '../objects/context.js';
import { attemptPayment, subscriptionInvoice, willBePaid } from '../objects/invoices.js';
import { addInterval } from '../objects/stripe-objects.js';
import { endSubscription, replaceSubscription } from '../objects/subscriptions.js';
import { paymentFailed, RETRY_DAYS, runDueRetries } from './dunning.js';

const BILLED: ReadonlySet<Stripe.Subscription.Status> = new Set(['active', 'trialing', 'past_due']);

/** Brings every subscription of the account up to `now`. */
export function billUntil(account: Account, now: number, emit: EmitEvent): void {
  for (const { id } of account.subscriptions.values()) {
    // Each step changes the subscription: read it again until nothing is due.
    for (let step = 0; step < 1000; step += 1) {
      const subscription = account.subscriptions.get(id);
      if (subscription === undefined || !BILLED.has(subscription.status)) break;
      if (!billingStep(account, subscription, now, emit)) break;
    }
  }
}

export function periodEnd(subscription: Stripe.Subscription): number {
  return subscription.items.data.reduce(
    (end, item) => Math.min(end, item.current_period_end),
    Number.POSITIVE_INFINITY,
  );
}

/** One due change of one subscription; false when nothing is due by `now`. */
function billingStep(
  account: Account,
  subscription: Stripe.Subscription,
  now: number,
  emit: EmitEvent,
): boolean {
  if (runDueRetries(account, subscription, now, emit)) return true;
  const end = periodEnd(subscription);
  if (end > now) return false;
  if (subscription.cancel_at_period_end || (subscription.cancel_at ?? Infinity) <= now) {
    endSubscription(account, subscription, now, 'cancellation_requested', emit);
    return true;
  }
  // Stripe stops renewing an unpaid period until its invoice is settled.
  if (subscription.status === 'past_due') return false;
  renew(account, subscription, end, now, emit);
  return true;
}

function renew(
  account: Account,
  subscription: Stripe.Subscription,
  start: number,
  now: number,
  emit: EmitEvent,
): void {
  const items = subscription.items.data.map((item) => {
    const recurring = item.price.recurring;
    const interval = recurring?.interval ?? 'month';
    return {
      ...item,
      current_period_start: start,
      current_period_end: addInterval(start, interval, recurring?.interval_count ?? 1),
    };
  });
  const next: Stripe.Subscription = {
    ...subscription,
    status: 'active',
    items: { ...subscription.items, data: items },
  };
  const draft = subscriptionInvoice(next, { reason: 'subscription_cycle', now });
  // Stripe starts the period, then fails the payment an hour later (a second
  // update). In one clock step both would share a second, which no receiver
  // can order: so a renewal that will fail starts its period past_due.
  const status = willBePaid(account, draft, true) ? 'active' : 'past_due';
  const renewed = replaceSubscription(
    account,
    subscription,
    { ...next, status, latest_invoice: draft.id },
    emit,
  );
  const nextAttempt = now + (RETRY_DAYS[0] ?? 3) * 86_400;
  const result = attemptPayment(account, draft, { renewal: true, now, nextAttempt }, emit);
  if (!result.paid) paymentFailed(account, renewed, result.invoice, now, emit);
}
