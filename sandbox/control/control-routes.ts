/**
 * `/_sandbox/...`: the sandbox's own control API (JSON), which the CLI
 * (`npm run sandbox -- ...`) uses. It listens on loopback like the rest of
 * the sandbox and needs no key: it only ever holds test data.
 *
 *   GET  /_sandbox/status
 *   POST /_sandbox/advance      {"duration":"31d"} or {"seconds":2678400}
 *   POST /_sandbox/trigger      {"type":"payment_failed","customer":"u1"}
 *   GET  /_sandbox/events       ?limit=20 (newest first)
 *   GET  /_sandbox/customers
 *   GET  /_sandbox/deliveries   ?limit=20 (newest first)
 *   POST /_sandbox/switches     {"duplicates":true,"reorder":false}
 *   POST /_sandbox/checkout/{id}/complete  {"card":"4242424242424242"}
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type Stripe from 'stripe';
import { ApiError } from '../api/errors.js';
import { readBody } from '../api/stripe-api.js';
import { parseDuration } from '../billing/clock.js';
import { CardDeclinedError } from '../objects/checkout-sessions.js';
import type { DeliveryAttempt, DeliverySwitches } from '../webhooks/delivery.js';

export interface SandboxStatus {
  readonly url: string;
  readonly now: number;
  readonly clockOffsetSeconds: number;
  readonly accounts: number;
  readonly customers: number;
  readonly subscriptions: number;
  readonly events: number;
  readonly webhookEndpoints: readonly string[];
  readonly pendingDeliveries: number;
  readonly switches: DeliverySwitches;
}

/** What the control routes use of the sandbox. */
export interface SandboxControl {
  status(): SandboxStatus;
  advance(seconds: number): { readonly now: number };
  trigger(type: 'payment_failed' | 'subscription_deleted', customer: string): Stripe.Event[];
  events(): Stripe.Event[];
  customers(): Stripe.Customer[];
  subscriptions(): Stripe.Subscription[];
  readonly delivery: {
    readonly switches: DeliverySwitches;
    readonly attempts: readonly DeliveryAttempt[];
  };
  checkoutSessions(): Stripe.Checkout.Session[];
  completeCheckoutSession(id: string, options: { card?: string; apiKey?: string }): unknown;
  accountOfSession(id: string): string | undefined;
}

type Json = Record<string, unknown>;

function field(body: Json, key: string): unknown {
  return body[key];
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(`${JSON.stringify(body, null, 2)}\n`);
}

function limitOf(url: URL): number {
  const limit = Number(url.searchParams.get('limit') ?? '20');
  return Number.isInteger(limit) && limit > 0 ? Math.min(limit, 1000) : 20;
}

function badRequest(message: string): ApiError {
  return new ApiError(400, 'invalid_request_error', message);
}

function secondsOf(body: Json): number {
  const seconds = field(body, 'seconds');
  if (typeof seconds === 'number') return seconds;
  const duration = field(body, 'duration');
  if (typeof duration !== 'string') throw badRequest('advance needs "duration" (31d) or "seconds"');
  try {
    return parseDuration(duration);
  } catch (error) {
    throw badRequest(error instanceof Error ? error.message : String(error));
  }
}

function customerSummary(control: SandboxControl, customer: Stripe.Customer): Json {
  const subscriptions = control
    .subscriptions()
    .filter((s) => s.customer === customer.id)
    .map((s) => ({
      id: s.id,
      status: s.status,
      prices: s.items.data.map((i) => `${i.price.id} x${i.quantity ?? 1}`),
      current_period_end: s.items.data[0]?.current_period_end ?? null,
      cancel_at_period_end: s.cancel_at_period_end,
    }));
  return {
    id: customer.id,
    email: customer.email,
    billing_customer_id: customer.metadata.billing_customer_id ?? null,
    subscriptions,
  };
}

type ControlHandler = (control: SandboxControl, url: URL, body: Json, match: string) => unknown;

const ROUTES: readonly { method: string; path: RegExp; handler: ControlHandler }[] = [
  { method: 'GET', path: /^\/_sandbox\/status$/, handler: (c) => c.status() },
  {
    method: 'POST',
    path: /^\/_sandbox\/advance$/,
    handler: (c, _u, body) => c.advance(secondsOf(body)),
  },
  {
    method: 'POST',
    path: /^\/_sandbox\/trigger$/,
    handler: (c, _u, body) => {
      const type = field(body, 'type');
      const customer = field(body, 'customer');
      if (type !== 'payment_failed' && type !== 'subscription_deleted') {
        throw badRequest('trigger "type" must be payment_failed or subscription_deleted');
      }
      if (typeof customer !== 'string') throw badRequest('trigger needs "customer"');
      return { events: c.trigger(type, customer).map((e) => ({ id: e.id, type: e.type })) };
    },
  },
  {
    method: 'GET',
    path: /^\/_sandbox\/events$/,
    handler: (c, url) =>
      newestFirst(c.events())
        .slice(0, limitOf(url))
        .map((e) => ({ id: e.id, type: e.type, created: e.created, object: idOfObject(e) })),
  },
  {
    method: 'GET',
    path: /^\/_sandbox\/customers$/,
    handler: (c) => c.customers().map((customer) => customerSummary(c, customer)),
  },
  {
    method: 'GET',
    path: /^\/_sandbox\/deliveries$/,
    handler: (c, url) => [...c.delivery.attempts].reverse().slice(0, limitOf(url)),
  },
  {
    method: 'POST',
    path: /^\/_sandbox\/switches$/,
    handler: (c, _u, body) => {
      for (const key of ['duplicates', 'reorder'] as const) {
        const value = field(body, key);
        if (typeof value === 'boolean') c.delivery.switches[key] = value;
      }
      return c.delivery.switches;
    },
  },
  {
    method: 'POST',
    path: /^\/_sandbox\/checkout\/([^/]+)\/complete$/,
    handler: (c, _u, body, id) => {
      const card = field(body, 'card');
      const apiKey = c.accountOfSession(id);
      if (apiKey === undefined)
        throw new ApiError(
          404,
          'invalid_request_error',
          `No such checkout.session: '${id}'`,
          'resource_missing',
        );
      return c.completeCheckoutSession(id, {
        apiKey,
        ...(typeof card === 'string' ? { card } : {}),
      });
    },
  },
];

/** Newest first; of one second, the later emitted first (each account's log is in order). */
function newestFirst(events: Stripe.Event[]): Stripe.Event[] {
  return events
    .map((event, index) => ({ event, index }))
    .sort((a, b) => b.event.created - a.event.created || b.index - a.index)
    .map(({ event }) => event);
}

function idOfObject(event: Stripe.Event): string {
  const object = event.data.object as { id?: unknown };
  return typeof object.id === 'string' ? object.id : '';
}

export function createControlRoutes(
  control: SandboxControl,
): (request: IncomingMessage, response: ServerResponse) => Promise<void> {
  return async (request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const method = request.method ?? 'GET';
    try {
      const text = await readBody(request);
      const body: unknown = text === '' ? {} : JSON.parse(text);
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw badRequest('the body must be a JSON object');
      }
      for (const route of ROUTES) {
        const match = route.path.exec(url.pathname);
        if (match === null || route.method !== method) continue;
        send(
          response,
          200,
          route.handler(control, url, body as Json, decodeURIComponent(match[1] ?? '')),
        );
        return;
      }
      throw new ApiError(
        404,
        'invalid_request_error',
        `Unrecognized sandbox URL (${method}: ${url.pathname})`,
      );
    } catch (error) {
      if (error instanceof ApiError) return send(response, error.status, error);
      if (error instanceof CardDeclinedError) {
        return send(response, 402, new ApiError(402, 'card_error', error.message, 'card_declined'));
      }
      if (error instanceof SyntaxError) return send(response, 400, badRequest(error.message));
      const message = error instanceof Error ? error.message : String(error);
      send(response, 500, new ApiError(500, 'api_error', message));
    }
  };
}
