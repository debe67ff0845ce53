/**
 * The local Stripe sandbox: a stateful stand-in for the Stripe API (v1)
 * that the real `stripe` SDK talks to (`new Stripe(key, sandbox.sdkConfig)`),
 * with webhook delivery, a test clock and a control API. `startSandbox()`
 * composes it; `npm run sandbox:serve` and `npm run start:local` run it.
 *
 * - `sandbox/api/`: HTTP, keys, forms, paging, idempotency, error bodies;
 * - `sandbox/objects/`: the Stripe objects and their routes;
 * - `sandbox/billing/`: clock, renewals, dunning;
 * - `sandbox/webhooks/`: endpoints, the event log, signed delivery;
 * - `sandbox/control/`: `/_sandbox/...` routes for the CLI.
 *
 * Tests drive it through the TypeScript control API (sandbox-handle.ts: seed objects,
 * inspect what the service created, count requests, inject failures,
 * advance the clock, wait for deliveries).
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { AccountRegistry } from './account-registry.js';
import { ApiError } from './api/errors.js';
import { createStripeApi, type RequestGate } from './api/stripe-api.js';
import { SandboxClock } from './billing/clock.js';
import { failPaymentNow } from './billing/dunning.js';
import { billUntil } from './billing/renewals.js';
import { createControlRoutes } from './control/control-routes.js';
import type { Account } from './objects/account.js';
import { completeCheckoutSession, settleAsyncPayment } from './objects/checkout-sessions.js';
import type { EmitEvent, HostedPageUrls } from './objects/context.js';
import { makeCustomer, makePrice, stripeId } from './objects/stripe-objects.js';
import { endSubscription } from './objects/subscriptions.js';
import { createHostedPages } from './pages/hosted-pages.js';
import type {
  Sandbox,
  SandboxFailure,
  SandboxOptions,
  SandboxRequest,
  TriggerType,
} from './sandbox-handle.js';
import { loadState, StateSaver } from './state.js';
import { WebhookDelivery } from './webhooks/delivery.js';
import { recordEvent } from './webhooks/events.js';

const TEST_KEY = /^(sk|rk)_test_[A-Za-z0-9_]+$/;
const DEFAULT_API_KEY = 'sk_test_sandbox_default';

function stripePages(): HostedPageUrls {
  return {
    checkout: (id) => `https://checkout.stripe.com/c/pay/${id}`,
    portal: () => `https://billing.stripe.com/p/session/test_${stripeId('', 40)}`,
  };
}

function sandboxPages(baseUrl: string): HostedPageUrls {
  return {
    checkout: (id) => `${baseUrl}/c/pay/${id}`,
    portal: (id) => `${baseUrl}/p/session/${id}`,
  };
}

async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const allowedKeys = options.apiKeys === undefined ? undefined : new Set(options.apiKeys);
  const isValidKey = (key: string): boolean =>
    allowedKeys === undefined ? TEST_KEY.test(key) : allowedKeys.has(key);
  const defaultApiKey = options.apiKeys?.[0] ?? DEFAULT_API_KEY;
  const loaded = loadState(options.statePath);
  const registry = new AccountRegistry(loaded.accounts, defaultApiKey);
  const clock = new SandboxClock(loaded.clockOffsetSeconds);
  const delivery = new WebhookDelivery({ retryDelayScale: options.retryDelayScale ?? 1 });
  const requestLog: SandboxRequest[] = [];
  const failures: SandboxFailure[] = [];
  const gates: RequestGate[] = [];
  const saver = new StateSaver(options.statePath, () => ({
    accounts: registry.all,
    clockOffsetSeconds: clock.offset,
  }));
  // Requests are routed once everything below is built; the port must be known first.
  let route: RequestListener = (_request, response) => {
    response.writeHead(503).end();
  };
  const server = createServer((request, response) => route(request, response));
  const port = await listen(server, options.port ?? 0, options.host ?? '127.0.0.1');
  const url = `http://127.0.0.1:${port}`;
  const sdkConfig = { host: '127.0.0.1', port, protocol: 'http' } as const;
  const pages = options.hostedPages === true ? sandboxPages(url) : stripePages();

  const accountFor = (apiKey?: string): Account => registry.accountFor(apiKey);
  const accountsFor = (apiKey: string | undefined): Account[] => registry.accountsFor(apiKey);

  // Events emitted in one synchronous run (a request, a clock step) are one delivery batch.
  let flushScheduled = false;
  const emit: EmitEvent = (account, type, object, previous) => {
    // Clock time (billing/clock.ts): a service on the sandbox's clock orders and dates events by it.
    const event = recordEvent(account, type, object, previous, clock.now());
    delivery.enqueue(account, event);
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(() => {
        flushScheduled = false;
        delivery.flush();
      });
    }
    saver.schedule();
    return event;
  };
  const changed = (): void => saver.schedule();
  const pendingSettlements = new Set<NodeJS.Timeout>();

  const sandbox: Sandbox = {
    port,
    url,
    sdkConfig,
    defaultApiKey,
    requestLog,
    clock,
    delivery,
    close: async () => {
      for (const timer of pendingSettlements) clearTimeout(timer);
      delivery.close();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error === undefined ? resolve() : reject(error))),
      );
      await saver.flush();
    },
    makeClient: (apiKey = defaultApiKey, config = {}) =>
      new Stripe(apiKey, {
        ...sdkConfig,
        maxNetworkRetries: 0,
        telemetry: false,
        ...config,
      }),
    seedPrice: (spec, apiKey) => {
      const price = makePrice(spec);
      accountFor(apiKey).prices.put(price);
      changed();
      return price;
    },
    seedCustomer: (spec = {}, apiKey) => {
      const customer = makeCustomer({ created: clock.now(), ...spec });
      accountFor(apiKey).customers.put(customer);
      changed();
      return customer;
    },
    seedSubscription: (subscription, apiKey) => {
      const store = accountFor(apiKey).subscriptions;
      if (store.get(subscription.id) !== undefined) {
        throw new Error(`sandbox: subscription ${subscription.id} already exists`);
      }
      store.put(subscription);
      changed();
      return subscription;
    },
    seedSubscriptions: (subscriptions, apiKey) => {
      for (const subscription of subscriptions) sandbox.seedSubscription(subscription, apiKey);
    },
    setSubscription: (subscription, apiKey) => {
      accountFor(apiKey).subscriptions.put(subscription);
      changed();
    },
    deleteSubscription: (id, apiKey) => accountFor(apiKey).subscriptions.delete(id),
    subscriptions: (apiKey) => accountsFor(apiKey).flatMap((a) => a.subscriptions.values()),
    customers: (apiKey) => accountsFor(apiKey).flatMap((a) => a.customers.values()),
    checkoutSessions: (apiKey) => accountsFor(apiKey).flatMap((a) => a.checkoutSessions.values()),
    portalSessions: (apiKey) => accountsFor(apiKey).flatMap((a) => a.portalSessions.values()),
    prices: (apiKey) => accountsFor(apiKey).flatMap((a) => a.prices.values()),
    invoices: (apiKey) => accountsFor(apiKey).flatMap((a) => a.invoices.values()),
    events: (apiKey) => accountsFor(apiKey).flatMap((a) => a.events.values()),
    webhookEndpoints: (apiKey) => accountsFor(apiKey).flatMap((a) => a.webhookEndpoints.values()),
    meterEvents: (apiKey) => accountsFor(apiKey).flatMap((a) => [...a.meterEvents.values()]),
    completeCheckoutSession: (id, completeOptions = {}) =>
      completeCheckoutSession(
        accountFor(completeOptions.apiKey),
        id,
        completeOptions,
        completeOptions.now ?? clock.now(),
        emit,
      ),
    settleAsyncPayment: (id, apiKey) => settleAsyncPayment(accountFor(apiKey), id, emit),
    advance: (seconds) => {
      const now = clock.advance(seconds);
      for (const account of registry.all.values()) billUntil(account, now, emit);
      changed();
      return { now };
    },
    findCustomer: (reference) => registry.findCustomer(reference),
    accountOfSession: (id) => registry.keyOfSession(id),
    trigger: (type, reference) => triggerEvent(type, reference),
    status: () => ({
      url: sandbox.url,
      now: clock.now(),
      clockOffsetSeconds: clock.offset,
      accounts: registry.all.size,
      customers: sandbox.customers().length,
      subscriptions: sandbox.subscriptions().length,
      events: sandbox.events().length,
      webhookEndpoints: sandbox.webhookEndpoints().map((e) => e.url),
      pendingDeliveries: delivery.pending,
      switches: { ...delivery.switches },
    }),
    failNext: (n, failure = 500) => {
      for (let i = 0; i < n; i += 1) failures.push(failure);
    },
    holdNext: () => {
      let arrived = (): void => {};
      let release = (): void => {};
      const held = new Promise<void>((resolve) => {
        arrived = resolve;
      });
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      gates.push({ arrived, released });
      return { held, release };
    },
    clearRequestLog: () => {
      requestLog.length = 0;
    },
    reset: () => {
      registry.reset();
      requestLog.length = 0;
      failures.length = 0;
      gates.length = 0;
      changed();
    },
    save: () => saver.flush(),
  };

  function triggerEvent(type: TriggerType, reference: string): Stripe.Event[] {
    const found = registry.findCustomer(reference);
    if (found === undefined)
      throw new ApiError(
        404,
        'invalid_request_error',
        `No such customer: '${reference}'`,
        'resource_missing',
      );
    const account = accountFor(found.apiKey);
    const before = account.events.size;
    const subscription = account.subscriptions
      .values()
      .reverse()
      .find((s) => s.customer === found.customer.id && s.status !== 'canceled');
    if (subscription === undefined) {
      throw new ApiError(
        400,
        'invalid_request_error',
        `Customer ${found.customer.id} has no live subscription`,
      );
    }
    if (type === 'payment_failed') failPaymentNow(account, subscription, clock.now(), emit);
    else endSubscription(account, subscription, clock.now(), 'cancellation_requested', emit);
    return account.events.values().slice(before);
  }

  const api = createStripeApi({
    isValidKey,
    accountFor,
    now: () => clock.now(),
    emit,
    pages,
    requestLog,
    failures,
    gates,
    afterChange: changed,
  });
  const control = createControlRoutes(sandbox);
  const hosted = createHostedPages({
    accountWith: (find) => [...registry.all.values()].find(find),
    complete: (account, id, completeOptions) =>
      completeCheckoutSession(account, id, completeOptions, clock.now(), emit).session,
    settleLater: (account, id) => {
      const timer = setTimeout(() => {
        pendingSettlements.delete(timer);
        settleAsyncPayment(account, id, emit);
      }, options.asyncPaymentDelayMs ?? 3000);
      pendingSettlements.add(timer);
    },
    context: (account, params, id) => ({ account, params, id, now: clock.now(), emit, pages }),
    changed,
  });
  route = (request, response) => {
    const path = request.url ?? '/';
    const handler = path.startsWith('/_sandbox/')
      ? control
      : path.startsWith('/v1/')
        ? api
        : path.startsWith('/c/pay/') || path.startsWith('/p/session/')
          ? hosted
          : api;
    handler(request, response).catch((error: unknown) => {
      if (!response.headersSent) {
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify(new ApiError(500, 'api_error', String(error))));
      }
    });
  };
  return sandbox;
}
