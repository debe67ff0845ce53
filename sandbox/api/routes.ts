/** Every Stripe API route the sandbox answers, one line each. */
import {
  createCheckoutSession,
  listCheckoutLineItems,
  listCheckoutSessions,
  retrieveCheckoutSession,
} from '../objects/checkout-sessions.js';
import type { Handler } from '../objects/context.js';
import {
  createCustomer,
  listCustomers,
  retrieveCustomer,
  updateCustomer,
} from '../objects/customers.js';
import { listInvoices, retrieveInvoice } from '../objects/invoices.js';
import { createMeterEvent } from '../objects/meter-events.js';
import { createPortalSession } from '../objects/portal-sessions.js';
import {
  createPrice,
  createProduct,
  listPrices,
  listProducts,
  retrievePrice,
  retrieveProduct,
} from '../objects/prices.js';
import {
  cancelSubscription,
  createSubscription,
  listSubscriptions,
  retrieveSubscription,
  updateSubscription,
} from '../objects/subscriptions.js';
import {
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  listWebhookEndpoints,
  retrieveWebhookEndpoint,
  updateWebhookEndpoint,
} from '../webhooks/endpoints.js';
import { listEvents, retrieveEvent } from '../webhooks/events.js';

export interface Route {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** The first group, if any, is the object id. */
  readonly path: RegExp;
  readonly handler: Handler;
}

const ID = '([^/]+)';
const route = (method: Route['method'], path: string, handler: Handler): Route => ({
  method,
  path: new RegExp(`^/v1/${path.replace('{id}', ID)}$`),
  handler,
});

export const ROUTES: readonly Route[] = [
  route('POST', 'customers', createCustomer),
  route('GET', 'customers', listCustomers),
  route('GET', 'customers/{id}', retrieveCustomer),
  route('POST', 'customers/{id}', updateCustomer),
  route('POST', 'products', createProduct),
  route('GET', 'products', listProducts),
  route('GET', 'products/{id}', retrieveProduct),
  route('POST', 'prices', createPrice),
  route('GET', 'prices', listPrices),
  route('GET', 'prices/{id}', retrievePrice),
  route('POST', 'checkout/sessions', createCheckoutSession),
  route('GET', 'checkout/sessions', listCheckoutSessions),
  route('GET', 'checkout/sessions/{id}', retrieveCheckoutSession),
  route('GET', 'checkout/sessions/{id}/line_items', listCheckoutLineItems),
  route('POST', 'billing_portal/sessions', createPortalSession),
  route('POST', 'subscriptions', createSubscription),
  route('GET', 'subscriptions', listSubscriptions),
  route('GET', 'subscriptions/{id}', retrieveSubscription),
  route('POST', 'subscriptions/{id}', updateSubscription),
  route('DELETE', 'subscriptions/{id}', cancelSubscription),
  route('GET', 'invoices', listInvoices),
  route('GET', 'invoices/{id}', retrieveInvoice),
  route('POST', 'billing/meter_events', createMeterEvent),
  route('POST', 'webhook_endpoints', createWebhookEndpoint),
  route('GET', 'webhook_endpoints', listWebhookEndpoints),
  route('GET', 'webhook_endpoints/{id}', retrieveWebhookEndpoint),
  route('POST', 'webhook_endpoints/{id}', updateWebhookEndpoint),
  route('DELETE', 'webhook_endpoints/{id}', deleteWebhookEndpoint),
  route('GET', 'events', listEvents),
  route('GET', 'events/{id}', retrieveEvent),
];

export function findRoute(method: string, path: string): { handler: Handler; id: string } | null {
  for (const candidate of ROUTES) {
    const match = candidate.path.exec(path);
    if (match !== null && candidate.method === method) {
      return { handler: candidate.handler, id: match[1] ?? '' };
    }
  }
  return null;
}
