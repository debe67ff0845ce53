/**
 * Invoices of subscriptions: built from the items' current periods, charged
 * on the customer's test card, announced with `invoice.paid` (and
 * `invoice.payment_succeeded`) or `invoice.payment_failed`; retrieve and list.
 */
import type Stripe from 'stripe';
import { noSuch } from '../api/errors.js';
import { LIST_PARAMS, listResponse } from '../api/paging.js';
import type { Account } from './account.js';
import { chargeOutcome } from './cards.js';
import type { EmitEvent, RequestContext } from './context.js';
import { idOf } from './ids.js';
import { makeInvoice } from './stripe-objects.js';

export interface InvoiceOptions {
  readonly reason: Stripe.Invoice.BillingReason;
  readonly now: number;
  /** A trial's invoice is for nothing. */
  readonly free?: boolean;
}

export function subscriptionInvoice(
  subscription: Stripe.Subscription,
  options: InvoiceOptions,
): Stripe.Invoice {
  const items = subscription.items.data;
  const lines = items.map((item) => ({
    price: item.price,
    quantity: item.quantity ?? 1,
    subscription_item: item.id,
    period_start: item.current_period_start,
    period_end: item.current_period_end,
  }));
  const total = lines.reduce((sum, line) => sum + (line.price.unit_amount ?? 0) * line.quantity, 0);
  return makeInvoice({
    customer: idOf(subscription.customer),
    subscription: subscription.id,
    status: 'open',
    billing_reason: options.reason,
    currency: subscription.currency,
    lines,
    amount_due: options.free === true ? 0 : total,
    amount_paid: 0,
    attempt_count: 0,
    next_payment_attempt: null,
    period_start: items[0]?.current_period_start ?? options.now,
    period_end: items[0]?.current_period_end ?? options.now,
    created: options.now,
  });
}

export interface ChargeResult {
  readonly invoice: Stripe.Invoice;
  readonly paid: boolean;
}

/** Whether charging the invoice now succeeds (free, or the customer's card pays). */
export function willBePaid(account: Account, invoice: Stripe.Invoice, renewal: boolean): boolean {
  const customer = idOf(invoice.customer ?? '');
  const free = invoice.amount_due === 0;
  return free || chargeOutcome(account.cards.get(customer), renewal) === 'succeeded';
}

/**
 * One payment attempt: charges the customer's card (a renewal is any charge
 * after the first), stores the invoice and emits its event. `nextAttempt`
 * is when a failed invoice is tried again (null: never).
 */
export function attemptPayment(
  account: Account,
  invoice: Stripe.Invoice,
  attempt: { readonly renewal: boolean; readonly now: number; readonly nextAttempt: number | null },
  emit: EmitEvent,
): ChargeResult {
  const paid = willBePaid(account, invoice, attempt.renewal);
  const charged: Stripe.Invoice = {
    ...invoice,
    attempt_count: invoice.attempt_count + 1,
    attempted: true,
    status: paid ? 'paid' : 'open',
    amount_paid: paid ? invoice.amount_due : 0,
    amount_remaining: paid ? 0 : invoice.amount_due,
    next_payment_attempt: paid ? null : attempt.nextAttempt,
    status_transitions: {
      ...invoice.status_transitions,
      finalized_at: invoice.status_transitions.finalized_at ?? attempt.now,
      paid_at: paid ? attempt.now : null,
    },
  };
  account.invoices.put(charged);
  if (paid) {
    emit(account, 'invoice.paid', charged);
    emit(account, 'invoice.payment_succeeded', charged);
  } else {
    emit(account, 'invoice.payment_failed', charged);
  }
  return { invoice: charged, paid };
}

/** Gives up a failed invoice: Stripe marks it uncollectible when it cancels the subscription. */
export function voidInvoice(account: Account, id: string, now: number): void {
  const invoice = account.invoices.get(id);
  if (invoice === undefined) return;
  account.invoices.put({
    ...invoice,
    status: 'uncollectible',
    next_payment_attempt: null,
    status_transitions: { ...invoice.status_transitions, marked_uncollectible_at: now },
  });
}

export function retrieveInvoice({ account, params, id }: RequestContext): Stripe.Invoice {
  params.allow(['expand']);
  const invoice = account.invoices.get(id);
  if (invoice === undefined) throw noSuch('invoice', id, 'invoice', 404);
  return invoice;
}

export function listInvoices({ account, params }: RequestContext): Stripe.ApiList<Stripe.Invoice> {
  params.allow([...LIST_PARAMS, 'customer', 'subscription', 'status', 'created']);
  const customer = params.string('customer');
  const subscription = params.string('subscription');
  const status = params.string('status');
  return listResponse(
    account.invoices,
    params,
    '/v1/invoices',
    'invoice',
    (invoice) =>
      (customer === undefined || idOf(invoice.customer ?? '') === customer) &&
      (subscription === undefined ||
        invoice.parent?.subscription_details?.subscription === subscription) &&
      (status === undefined || invoice.status === status),
  );
}
