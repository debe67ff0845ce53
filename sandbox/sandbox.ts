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
 * Tests drive it through the TypeScript control API below (seed objects,
 * inspect what the service created, count requests, inject failures,
 * advance the clock, wait for deliveries).
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { ApiError } from './api/errors.js';
import {
  type ApiRequestRecord,
  createStripeApi,
  type InjectedFailure,
  type RequestGate,
} from './api/stripe-api.js';
import { SandboxClock } from './billing/clock.js';
import { failPaymentNow } from './billing/dunning.js';
import { billUntil } from './billing/renewals.js';
import { createControlRoutes, type SandboxStatus } from './control/control-routes.js';
import { Account } from './objects/account.js';
import {
  type CompleteCheckoutOptions,
  type CompletedCheckout,
  completeCheckoutSession,
  settleAsyncPayment,
} from './objects/checkout-sessions.js';
import type { EmitEvent, HostedPageUrls } from './objects/context.js';
import {
  type CustomerSpec,
  makeCustomer,
  makePrice,
  nowSeconds,
  type PriceSpec,
  stripeId,
} from './objects/stripe-objects.js';
import { endSubscription } from './objects/subscriptions.js';
import { createHostedPages } from './pages/hosted-pages.js';
import { loadState, StateSaver } from './state.js';
import { WebhookDelivery } from './webhooks/delivery.js';
import { recordEvent } from './webhooks/events.js';

export interface SandboxOptions {
  /** The only API keys accepted. Default: any test key (`sk_test_...`, `rk_test_...`). */
  readonly apiKeys?: readonly string[];
  /** Default 0 (any free port). */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Where the state is saved and read back from; default: kept in memory only. */
  readonly statePath?: string;
  /** Multiplies webhook retry delays (tests: 0.001). Default 1. */
  readonly retryDelayScale?: number;
  /**
   * Session URLs point at the sandbox's own hosted pages (`/c/pay/{id}`,
   * `/p/session/{id}`) instead of checkout.stripe.com / billing.stripe.com.
   */
  readonly hostedPages?: boolean;
  /** How long after a checkout paid with 4000000000000077 its payment succeeds. Default 3 s. */
  readonly asyncPaymentDelayMs?: number;
}

export type SandboxRequest = ApiRequestRecord;
export type SandboxFailure = InjectedFailure;

/** One request held by `holdNext`. */
export interface SandboxHold {
  /** Resolves when the held request has arrived. */
  readonly held: Promise<void>;
  /** Lets the held request go on (also before it arrived: then it is not held). */
  release(): void;
}

export interface SandboxCompleteOptions extends CompleteCheckoutOptions {
  readonly apiKey?: string;
  /** Time of completion (Unix seconds); default the sandbox clock's now. */
  readonly now?: number;
}

export type TriggerType = 'payment_failed' | 'subscription_deleted';
export const TRIGGER_TYPES: readonly TriggerType[] = ['payment_failed', 'subscription_deleted'];

export interface FoundCustomer {
  readonly apiKey: string;
  readonly customer: Stripe.Customer;
}

export interface Sandbox {
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** What to pass to `new Stripe(key, { ...sandbox.sdkConfig })` (or the service's config). */
  readonly sdkConfig: { readonly host: string; readonly port: number; readonly protocol: 'http' };
  /**
   * The account that seeding methods and `completeCheckoutSession` use when
   * given no API key (the first of `apiKeys`, else `sk_test_sandbox_default`).
   * The listing methods given no API key return the objects of every account.
   */
  readonly defaultApiKey: string;
  /** Every API request answered, in order. */
  readonly requestLog: SandboxRequest[];
  readonly clock: SandboxClock;
  /** Webhook attempts, switches (`duplicates`, `reorder`), `idle()`, `signals`. */
  readonly delivery: WebhookDelivery;
  close(): Promise<void>;
  /** A real SDK client pointed at the sandbox, with `maxNetworkRetries: 0` unless overridden. */
  makeClient(apiKey?: string, config?: Stripe.StripeConfig): Stripe;
  seedPrice(spec: PriceSpec, apiKey?: string): Stripe.Price;
  seedCustomer(spec?: CustomerSpec, apiKey?: string): Stripe.Customer;
  /** Stores a subscription (as the newest); throws if its id exists. */
  seedSubscription(subscription: Stripe.Subscription, apiKey?: string): Stripe.Subscription;
  seedSubscriptions(subscriptions: Iterable<Stripe.Subscription>, apiKey?: string): void;
  /** Inserts or replaces a subscription (a replaced one keeps its place in lists). */
  setSubscription(subscription: Stripe.Subscription, apiKey?: string): void;
  deleteSubscription(id: string, apiKey?: string): boolean;
  /** Stored objects, oldest first; without an API key, those of every account. */
  subscriptions(apiKey?: string): Stripe.Subscription[];
  customers(apiKey?: string): Stripe.Customer[];
  checkoutSessions(apiKey?: string): Stripe.Checkout.Session[];
  portalSessions(apiKey?: string): Stripe.BillingPortal.Session[];
  prices(apiKey?: string): Stripe.Price[];
  invoices(apiKey?: string): Stripe.Invoice[];
  /** Events emitted, oldest first. */
  events(apiKey?: string): Stripe.Event[];
  webhookEndpoints(apiKey?: string): Stripe.WebhookEndpoint[];
  /** Meter events accepted, oldest first (one per identifier); without an API key, every account's. */
  meterEvents(apiKey?: string): Stripe.Billing.MeterEvent[];
  /**
   * What Stripe does when the buyer pays (see `completeCheckoutSession` in
   * objects/checkout-sessions.ts); emits the events and sends their webhooks.
   */
  completeCheckoutSession(id: string, options?: SandboxCompleteOptions): CompletedCheckout;
  /** A delayed checkout payment succeeds (`checkout.session.async_payment_succeeded`). */
  settleAsyncPayment(id: string, apiKey?: string): Stripe.Checkout.Session;
  /** Moves the test clock forward and bills every account up to the new time. */
  advance(seconds: number): { readonly now: number };
  /** The API key of the account that holds checkout session `id`. */
  accountOfSession(id: string): string | undefined;
  /** A customer by id (`cus_...`), by the service's customer id (metadata) or by email. */
  findCustomer(reference: string): FoundCustomer | undefined;
  /** Makes something happen to a customer's newest live subscription now. */
  trigger(type: TriggerType, customerReference: string): Stripe.Event[];
  status(): SandboxStatus;
  /** Answers the next `n` API requests (any route, any key) with `failure` (default 500). */
  failNext(n: number, failure?: SandboxFailure): void;
  /**
   * Holds the next API request (any route, any key) before answering it, so
   * a test can act while a caller is inside a call to Stripe: `held`
   * resolves once that request has arrived, `release()` lets it be answered.
   */
  holdNext(): SandboxHold;
  clearRequestLog(): void;
  /** Forgets every account, the request log, pending failures and holds not used yet. */
  reset(): void;
  /** Writes the state file now (also done shortly after every change, and on close). */
  save(): Promise<void>;
}

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
  const defaultApiKey = options.apiKeys?.[0] ?? DEFAULT_API_KEY;
  const loaded = loadState(options.statePath);
  let accounts = loaded.accounts;
  const clock = new SandboxClock(loaded.clockOffsetSeconds);
  const delivery = new WebhookDelivery({ retryDelayScale: options.retryDelayScale ?? 1 });
  const requestLog: SandboxRequest[] = [];
  const failures: SandboxFailure[] = [];
  const gates: RequestGate[] = [];
  const saver = new StateSaver(options.statePath, () => ({
    accounts,
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

  const accountFor = (apiKey: string = defaultApiKey): Account => {
    let account = accounts.get(apiKey);
    if (account === undefined) {
      account = new Account();
      accounts.set(apiKey, account);
    }
    return account;
  };
  const accountsFor = (apiKey: string | undefined): Account[] =>
    apiKey === undefined ? [...accounts.values()] : [accountFor(apiKey)];
  const isValidKey = (key: string): boolean =>
    allowedKeys === undefined ? TEST_KEY.test(key) : allowedKeys.has(key);

  // Events emitted in one synchronous run (a request, a clock step) are one delivery batch.
  let flushScheduled = false;
  const emit: EmitEvent = (account, type, object, previous) => {
    // Like Stripe's test clocks: objects carry clock time, events the real time they happened
    // (receivers refuse events from their future).
    const event = recordEvent(account, type, object, previous, nowSeconds());
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

  const findCustomer = (reference: string): FoundCustomer | undefined => {
    for (const [apiKey, account] of accounts) {
      const customer = account.customers
        .values()
        .find(
          (c) =>
            c.id === reference ||
            c.metadata.billing_customer_id === reference ||
            c.email === reference,
        );
      if (customer !== undefined) return { apiKey, customer };
    }
    return undefined;
  };

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
      for (const account of accounts.values()) billUntil(account, now, emit);
      changed();
      return { now };
    },
    findCustomer,
    accountOfSession: (id) =>
      [...accounts].find(([, account]) => account.checkoutSessions.get(id) !== undefined)?.[0],
    trigger: (type, reference) => triggerEvent(type, reference),
    status: () => ({
      url: sandbox.url,
      now: clock.now(),
      clockOffsetSeconds: clock.offset,
      accounts: accounts.size,
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
      accounts = new Map();
      requestLog.length = 0;
      failures.length = 0;
      gates.length = 0;
      changed();
    },
    save: () => saver.flush(),
  };

  function triggerEvent(type: TriggerType, reference: string): Stripe.Event[] {
    const found = findCustomer(reference);
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
    accountWith: (find) => [...accounts.values()].find(find),
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
