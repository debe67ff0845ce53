/**
 * A failed subscription payment: the subscription goes `past_due`, the
 * invoice is retried 3, 5 and 7 days after the failure (Stripe's default
 * retry schedule, fixed instead of "smart"), and after the last failed
 * retry the subscription is canceled (`customer.subscription.deleted`,
 * reason `payment_failed`) and the invoice marked uncollectible.
 */
import type Stripe from 'stripe';
import type { Account } from '../objects/account.js';
import type { EmitEvent } from '../objects/context.js';
import { attemptPayment, subscriptionInvoice, voidInvoice } from '../objects/invoices.js';
import { endSubscription, replaceSubscription } from '../objects/subscriptions.js';

const DAY = 86_400;
/** Days after the first failure at which the invoice is tried again. */
export const RETRY_DAYS: readonly number[] = [3, 5, 7];

/** Starts dunning for a payment that just failed. */
export function paymentFailed(
  account: Account,
  subscription: Stripe.Subscription,
  invoice: Stripe.Invoice,
  failedAt: number,
  emit: EmitEvent,
): Stripe.Subscription {
  account.dunning.set(subscription.id, {
    invoice: invoice.id,
    attempts: 1,
    failedAt,
    nextAttempt: failedAt + (RETRY_DAYS[0] ?? 3) * DAY,
  });
  if (subscription.status === 'past_due' && subscription.latest_invoice === invoice.id) {
    return subscription;
  }
  return replaceSubscription(
    account,
    subscription,
    { ...subscription, status: 'past_due', latest_invoice: invoice.id },
    emit,
  );
}

/**
 * Fails a payment of the subscription now, as a renewal would (`trigger
 * payment_failed`): a new invoice for the current period that is not paid.
 */
export function failPaymentNow(
  account: Account,
  subscription: Stripe.Subscription,
  now: number,
  emit: EmitEvent,
): Stripe.Subscription {
  const draft = subscriptionInvoice(subscription, { reason: 'subscription_cycle', now });
  const failed: Stripe.Invoice = {
    ...draft,
    attempt_count: 1,
    next_payment_attempt: now + 3 * DAY,
  };
  account.invoices.put(failed);
  emit(account, 'invoice.payment_failed', failed);
  return paymentFailed(account, subscription, failed, now, emit);
}

/** Runs the retries that are due by `now`; true if anything happened. */
export function runDueRetries(
  account: Account,
  subscription: Stripe.Subscription,
  now: number,
  emit: EmitEvent,
): boolean {
  const state = account.dunning.get(subscription.id);
  if (state === undefined || state.nextAttempt > now) return false;
  const invoice = account.invoices.get(state.invoice);
  if (invoice === undefined) {
    account.dunning.delete(subscription.id);
    return true;
  }
  const retry = state.attempts; // 1 for the first retry
  const nextDay = RETRY_DAYS[retry];
  const nextAttempt = nextDay === undefined ? null : state.failedAt + nextDay * DAY;
  const result = attemptPayment(account, invoice, { renewal: true, now, nextAttempt }, emit);
  if (result.paid) {
    account.dunning.delete(subscription.id);
    replaceSubscription(account, subscription, { ...subscription, status: 'active' }, emit);
  } else if (nextAttempt === null) {
    voidInvoice(account, invoice.id, now);
    endSubscription(account, subscription, now, 'payment_failed', emit);
  } else {
    account.dunning.set(subscription.id, { ...state, attempts: retry + 1, nextAttempt });
  }
  return true;
}
