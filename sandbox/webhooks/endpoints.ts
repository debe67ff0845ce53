/** Webhook endpoints: create (the only answer that shows the `whsec_` secret), retrieve, update, delete, list. */
import { randomBytes } from 'node:crypto';
import type Stripe from 'stripe';
import { invalid, missingParam, noSuch } from '../api/errors.js';
import type { Params } from '../api/form.js';
import { LIST_PARAMS, listResponse } from '../api/paging.js';
import type { Account } from '../objects/account.js';
import type { RequestContext } from '../objects/context.js';
import { STRIPE_API_VERSION, stripeId } from '../objects/stripe-objects.js';

export function createWebhookEndpoint({
  account,
  params,
  now,
}: RequestContext): Stripe.WebhookEndpoint {
  params.allow([
    'url',
    'enabled_events',
    'description',
    'metadata',
    'api_version',
    'expand',
    'connect',
  ]);
  const endpoint: Stripe.WebhookEndpoint = {
    id: stripeId('we_'),
    object: 'webhook_endpoint',
    api_version: params.string('api_version') ?? STRIPE_API_VERSION,
    application: null,
    created: now,
    description: params.string('description') ?? null,
    enabled_events: enabledEvents(params, true),
    livemode: false,
    metadata: params.metadata() ?? {},
    status: 'enabled',
    url: endpointUrl(params, true),
  };
  const secret = `whsec_${randomBytes(24).toString('base64url')}`;
  account.webhookEndpoints.put(endpoint);
  account.endpointSecrets.set(endpoint.id, secret);
  return { ...endpoint, secret };
}

function endpointUrl(params: Params, required: boolean): string {
  const url = required ? params.required('url') : params.string('url');
  if (url === undefined) return '';
  if (!/^https?:\/\/[^\s]+$/.test(url))
    throw invalid('Invalid URL: must be http(s)', 'url', 'url_invalid');
  return url;
}

function enabledEvents(params: Params, required: boolean): string[] {
  const events = params.strings('enabled_events');
  if (required && events.length === 0) throw missingParam('enabled_events');
  return events;
}

function findEndpoint(account: Account, id: string): Stripe.WebhookEndpoint {
  const endpoint = account.webhookEndpoints.get(id);
  if (endpoint === undefined) throw noSuch('webhook_endpoint', id, 'id', 404);
  return endpoint;
}

export function retrieveWebhookEndpoint({
  account,
  params,
  id,
}: RequestContext): Stripe.WebhookEndpoint {
  params.allow(['expand']);
  return findEndpoint(account, id);
}

export function updateWebhookEndpoint({
  account,
  params,
  id,
}: RequestContext): Stripe.WebhookEndpoint {
  params.allow(['url', 'enabled_events', 'description', 'metadata', 'disabled', 'expand']);
  const before = findEndpoint(account, id);
  const url = endpointUrl(params, false);
  const events = enabledEvents(params, false);
  const disabled = params.boolean('disabled');
  const after: Stripe.WebhookEndpoint = {
    ...before,
    url: url === '' ? before.url : url,
    enabled_events: events.length === 0 ? before.enabled_events : events,
    description: params.string('description') ?? before.description,
    metadata: { ...before.metadata, ...params.metadata() },
    status: disabled === undefined ? before.status : disabled ? 'disabled' : 'enabled',
  };
  account.webhookEndpoints.put(after);
  return after;
}

export function deleteWebhookEndpoint({
  account,
  id,
}: RequestContext): Stripe.DeletedWebhookEndpoint {
  findEndpoint(account, id);
  account.webhookEndpoints.delete(id);
  account.endpointSecrets.delete(id);
  return { id, object: 'webhook_endpoint', deleted: true };
}

export function listWebhookEndpoints({
  account,
  params,
}: RequestContext): Stripe.ApiList<Stripe.WebhookEndpoint> {
  params.allow(LIST_PARAMS);
  return listResponse(
    account.webhookEndpoints,
    params,
    '/v1/webhook_endpoints',
    'webhook_endpoint',
  );
}

/** Whether an endpoint wants an event of `type` (`*` wants all). */
export function wants(endpoint: Stripe.WebhookEndpoint, type: string): boolean {
  return (
    endpoint.status === 'enabled' &&
    (endpoint.enabled_events.includes('*') || endpoint.enabled_events.includes(type))
  );
}
