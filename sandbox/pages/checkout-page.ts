/**
 * The hosted checkout page, `/c/pay/{session id}`: the line items, a card
 * field with Stripe's test cards, and Pay. 4242... pays; 4000000000000002
 * is declined (the page says so, the session stays open);
 * 4000000000000077 completes the session unpaid and the payment succeeds
 * a moment later (`checkout.session.async_payment_succeeded`). Paying
 * redirects to the session's success URL.
 */
import type Stripe from 'stripe';
import { TEST_CARDS } from '../objects/cards.js';
import { escapeHtml, hidden, money, page } from './html.js';

export interface CheckoutPageView {
  readonly session: Stripe.Checkout.Session;
  readonly lineItems: readonly Stripe.LineItem[];
  readonly error?: string;
}

export function checkoutPage({ session, lineItems, error }: CheckoutPageView): string {
  if (session.status !== 'open') {
    return page(
      'Checkout',
      `<h1>This checkout session is ${escapeHtml(String(session.status))}.</h1>`,
    );
  }
  const rows = lineItems
    .map(
      (line) =>
        `<tr><td>${escapeHtml(line.description ?? line.price?.id ?? '')} × ${line.quantity ?? 1}${
          line.price?.recurring ? ` / ${line.price.recurring.interval}` : ''
        }</td><td style="text-align:right">${money(line.amount_total, line.currency)}</td></tr>`,
    )
    .join('');
  const cancel =
    session.cancel_url === null ? '' : ` <a href="${escapeHtml(session.cancel_url)}">Cancel</a>`;
  return page(
    'Checkout',
    `<h1>${session.mode === 'subscription' ? 'Subscribe' : 'Pay'}</h1>
<table>${rows}<tr><td><b>Total</b></td><td style="text-align:right"><b>${money(
      session.amount_total,
      session.currency,
    )}</b></td></tr></table>
${error === undefined ? '' : `<p class="error" role="alert">${escapeHtml(error)}</p>`}
<form method="post" class="box">
<label>Email <input name="email" type="email" value="${escapeHtml(session.customer_email ?? 'buyer@example.com')}"></label><br><br>
<label>Card number <input name="card" id="card" value="${TEST_CARDS.success}" size="22"></label>
${hidden('session', session.id)}
<p><button type="submit" id="pay">Pay</button>${cancel}</p>
<p><small>Test cards: ${TEST_CARDS.success} succeeds, ${TEST_CARDS.decline} is declined,
${TEST_CARDS.asyncPayment} completes later, ${TEST_CARDS.failsLater} pays now and fails at renewal.</small></p>
</form>`,
  );
}

/** Where the buyer goes after paying (`{CHECKOUT_SESSION_ID}` filled in, as Stripe does). */
export function successRedirect(session: Stripe.Checkout.Session): string | null {
  return session.success_url?.replaceAll('{CHECKOUT_SESSION_ID}', session.id) ?? null;
}
