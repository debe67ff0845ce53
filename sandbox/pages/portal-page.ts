/**
 * The hosted billing portal, `/p/session/{portal session id}`: the
 * customer's live subscriptions, each with a plan switch (upgrade or
 * downgrade among the account's recurring prices), a quantity (seats),
 * cancel at period end and resume; and a link back to the return URL.
 */
import type Stripe from 'stripe';
import { escapeHtml, hidden, money, page } from './html.js';

export interface PortalPageView {
  readonly session: Stripe.BillingPortal.Session;
  readonly subscriptions: readonly Stripe.Subscription[];
  readonly prices: readonly Stripe.Price[];
  readonly notice?: string;
}

function planName(price: Stripe.Price): string {
  const name = price.nickname ?? price.lookup_key ?? price.id;
  return `${name} (${money(price.unit_amount, price.currency)} / ${price.recurring?.interval ?? 'once'})`;
}

function subscriptionBox(
  subscription: Stripe.Subscription,
  prices: readonly Stripe.Price[],
): string {
  const item = subscription.items.data[0];
  if (item === undefined) return '';
  const options = prices
    .map(
      (price) =>
        `<option value="${escapeHtml(price.id)}"${price.id === item.price.id ? ' selected' : ''}>${escapeHtml(planName(price))}</option>`,
    )
    .join('');
  const end = new Date(item.current_period_end * 1000).toISOString().slice(0, 10);
  const state = subscription.cancel_at_period_end
    ? `cancels on ${end}`
    : `${escapeHtml(subscription.status)}, renews on ${end}`;
  const ids = hidden('subscription', subscription.id) + hidden('item', item.id);
  const toggle = subscription.cancel_at_period_end
    ? `<button name="action" value="resume" id="resume">Resume</button>`
    : `<button name="action" value="cancel" id="cancel">Cancel at period end</button>`;
  return `<div class="box" data-subscription="${escapeHtml(subscription.id)}">
<p><b>${escapeHtml(planName(item.price))}</b> × ${item.quantity ?? 1} — ${state}</p>
<form method="post">${ids}
<label>Plan <select name="price" id="price">${options}</select></label>
<label>Quantity <input name="quantity" id="quantity" type="number" min="1" value="${item.quantity ?? 1}" size="4"></label>
<button name="action" value="update" id="update">Update</button></form>
<form method="post">${ids}${toggle}</form></div>`;
}

export function portalPage({ session, subscriptions, prices, notice }: PortalPageView): string {
  const live = subscriptions.filter((s) => s.status !== 'canceled');
  const boxes =
    live.length === 0
      ? '<p>No active subscription.</p>'
      : live.map((s) => subscriptionBox(s, prices)).join('');
  const back =
    session.return_url === null
      ? ''
      : `<p><a href="${escapeHtml(session.return_url)}">Return</a></p>`;
  return page(
    'Billing portal',
    `<h1>Your subscription</h1>${notice === undefined ? '' : `<p role="status">${escapeHtml(notice)}</p>`}${boxes}${back}`,
  );
}
