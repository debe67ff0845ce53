/** Billing portal sessions. */
import type Stripe from 'stripe';
import { invalid, noSuch } from '../api/errors.js';
import type { RequestContext } from './context.js';
import { makePortalSession } from './stripe-objects.js';

export function createPortalSession({
  account,
  params,
  now,
  pages,
}: RequestContext): Stripe.BillingPortal.Session {
  params.allow([
    'customer',
    'return_url',
    'configuration',
    'flow_data',
    'locale',
    'on_behalf_of',
    'expand',
  ]);
  const customer = params.required('customer');
  if (account.customers.get(customer) === undefined) {
    throw noSuch('customer', customer, 'customer');
  }
  const returnUrl = params.string('return_url');
  if (returnUrl !== undefined && !/^https?:\/\/[^\s]+$/.test(returnUrl)) {
    throw invalid('Not a valid URL', 'return_url', 'url_invalid');
  }
  const session = makePortalSession({
    customer,
    return_url: returnUrl ?? null,
    configuration: params.string('configuration') ?? account.portalConfiguration,
    created: now,
  });
  session.url = pages.portal(session.id);
  account.portalSessions.put(session);
  return session;
}
