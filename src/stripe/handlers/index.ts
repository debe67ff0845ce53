/**
 * The handled event types, one line each, with the handler that serves it.
 * A handler may serve several types of one object (its file header names
 * them); types not listed are recorded and ignored. Each type's tests are in
 * test/webhooks/ under its name: customer-subscription-updated.test.ts.
 */
import { chargeRefunded } from './charge-refunded.js';
import { checkoutSessionCompleted } from './checkout-session-completed.js';
import { invoiceChanged } from './invoice-changed.js';
import { subscriptionChanged } from './subscription-changed.js';
import type { EventHandler } from './types.js';

export const eventHandlers: ReadonlyMap<string, EventHandler> = new Map([
  ['checkout.session.completed', checkoutSessionCompleted],
  ['checkout.session.async_payment_succeeded', checkoutSessionCompleted],
  ['customer.subscription.created', subscriptionChanged],
  ['customer.subscription.updated', subscriptionChanged],
  ['customer.subscription.deleted', subscriptionChanged],
  ['invoice.paid', invoiceChanged],
  ['invoice.payment_failed', invoiceChanged],
  ['charge.refunded', chargeRefunded],
]);

export type { EventHandler, HandlerResult, WebhookContext } from './types.js';
