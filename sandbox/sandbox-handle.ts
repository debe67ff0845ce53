/**
 * What a sandbox offers its users (tests, the CLI through the control
 * routes, start:local): its options and the `Sandbox` handle that
 * `startSandbox()` (sandbox.ts) answers.
 */
import type Stripe from 'stripe';
import type { ApiRequestRecord, InjectedFailure } from './api/stripe-api.js';
import type { SandboxClock } from './billing/clock.js';
import type { SandboxStatus } from './control/control-routes.js';
import type { CompleteCheckoutOptions, CompletedCheckout } from './objects/checkout-sessions.js';
import type { CustomerSpec, PriceSpec } from './objects/stripe-objects.js';
import type { WebhookDelivery } from './webhooks/delivery.js';

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
