/** Serves the hosted checkout (`/c/pay/{id}`) and portal (`/p/session/{id}`) pages. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Stripe from 'stripe';
import { ApiError } from '../api/errors.js';
import { Params, parseForm } from '../api/form.js';
import { readBody } from '../api/stripe-api.js';
import type { Account } from '../objects/account.js';
import { TEST_CARDS } from '../objects/cards.js';
import { CardDeclinedError, type CompleteCheckoutOptions } from '../objects/checkout-sessions.js';
import type { RequestContext } from '../objects/context.js';
import { updateSubscription } from '../objects/subscriptions.js';
import { checkoutPage, successRedirect } from './checkout-page.js';
import { escapeHtml, page } from './html.js';
import { portalPage } from './portal-page.js';

export interface HostedPagesDeps {
  accountWith(find: (account: Account) => boolean): Account | undefined;
  complete(account: Account, id: string, options: CompleteCheckoutOptions): Stripe.Checkout.Session;
  /** The delayed payment of a completed session succeeds a little later. */
  settleLater(account: Account, id: string): void;
  context(account: Account, params: Params, id: string): RequestContext;
  /** After a change: save state, send webhooks. */
  changed(): void;
}

function html(response: ServerResponse, status: number, body: string): void {
  response.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
  response.end(body);
}

function redirect(response: ServerResponse, location: string): void {
  response.writeHead(303, { location });
  response.end();
}

function formField(form: Record<string, unknown>, key: string): string | undefined {
  const value = form[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

export function createHostedPages(
  deps: HostedPagesDeps,
): (request: IncomingMessage, response: ServerResponse) => Promise<void> {
  return async (request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const checkout = /^\/c\/pay\/([^/]+)$/.exec(url.pathname)?.[1];
    const portal = /^\/p\/session\/([^/]+)$/.exec(url.pathname)?.[1];
    const form = request.method === 'POST' ? parseForm(await readBody(request)) : {};
    const method = request.method;
    if (checkout !== undefined)
      return checkoutRoute({ deps, id: decodeURIComponent(checkout), form, response, method });
    if (portal !== undefined)
      return portalRoute({ deps, id: decodeURIComponent(portal), form, response, method });
    html(response, 404, page('Not found', '<h1>Not found</h1>'));
  };
}

interface PageRequest {
  readonly deps: HostedPagesDeps;
  /** The session id from the URL. */
  readonly id: string;
  readonly form: Record<string, unknown>;
  readonly response: ServerResponse;
  readonly method: string | undefined;
}

function checkoutRoute({ deps, id, form, response, method }: PageRequest): void {
  const account = deps.accountWith((a) => a.checkoutSessions.get(id) !== undefined);
  const session = account?.checkoutSessions.get(id);
  if (account === undefined || session === undefined) {
    html(response, 404, page('Checkout', '<h1>No such checkout session.</h1>'));
    return;
  }
  const lineItems = account.sessionExtras.get(id)?.lineItems ?? [];
  if (method !== 'POST') {
    html(response, 200, checkoutPage({ session, lineItems }));
    return;
  }
  const card = (formField(form, 'card') ?? TEST_CARDS.success).replaceAll(/\s/g, '');
  const later = card === TEST_CARDS.asyncPayment;
  try {
    const email = formField(form, 'email');
    const completed = deps.complete(account, id, {
      card: later ? TEST_CARDS.success : card,
      ...(email === undefined ? {} : { customer_email: email }),
      ...(later ? { payment_status: 'unpaid' as const } : {}),
    });
    if (later) deps.settleLater(account, id);
    deps.changed();
    const next = successRedirect(completed);
    if (next !== null) {
      redirect(response, next);
      return;
    }
    html(response, 200, page('Checkout', '<h1>Paid. Thank you!</h1>'));
  } catch (error) {
    if (!(error instanceof CardDeclinedError) && !(error instanceof ApiError)) throw error;
    html(response, 402, checkoutPage({ session, lineItems, error: error.message }));
  }
}

function portalRoute({ deps, id, form, response, method }: PageRequest): void {
  const account = deps.accountWith((a) => a.portalSessions.get(id) !== undefined);
  const session = account?.portalSessions.get(id);
  if (account === undefined || session === undefined) {
    html(response, 404, page('Billing portal', '<h1>No such portal session.</h1>'));
    return;
  }
  let notice: string | undefined;
  let status = 200;
  if (method === 'POST') {
    try {
      notice = applyPortalAction(deps, account, session, form);
      deps.changed();
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      status = error.status;
      notice = error.message;
    }
  }
  const subscriptions = account.subscriptions
    .values()
    .filter((s) => s.customer === session.customer);
  const prices = account.prices.values().filter((p) => p.active && p.recurring !== null);
  html(
    response,
    status,
    portalPage({ session, subscriptions, prices, ...(notice === undefined ? {} : { notice }) }),
  );
}

function applyPortalAction(
  deps: HostedPagesDeps,
  account: Account,
  session: Stripe.BillingPortal.Session,
  form: Record<string, unknown>,
): string {
  const subscriptionId = formField(form, 'subscription') ?? '';
  const subscription = account.subscriptions.get(subscriptionId);
  if (subscription === undefined || subscription.customer !== session.customer) {
    throw new ApiError(404, 'invalid_request_error', 'No such subscription for this customer.');
  }
  const action = formField(form, 'action');
  const query = new URLSearchParams();
  if (action === 'cancel' || action === 'resume') {
    query.set('cancel_at_period_end', action === 'cancel' ? 'true' : 'false');
  } else if (action === 'update') {
    query.set('items[0][id]', formField(form, 'item') ?? '');
    query.set('items[0][price]', formField(form, 'price') ?? '');
    query.set('items[0][quantity]', formField(form, 'quantity') ?? '1');
  } else {
    throw new ApiError(
      400,
      'invalid_request_error',
      `Unknown action ${escapeHtml(String(action))}`,
    );
  }
  const params = new Params(parseForm(query.toString()));
  updateSubscription(deps.context(account, params, subscriptionId));
  return action === 'cancel'
    ? 'Your subscription will end at the end of the period.'
    : action === 'resume'
      ? 'Your subscription will renew.'
      : 'Your subscription was updated.';
}
