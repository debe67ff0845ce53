/**
 * One Stripe account of the sandbox (accounts are kept apart by API key, as
 * Stripe does): every object it holds, in the order created, and what it
 * needs to be saved to disk and read back (`.data/sandbox-state.json`).
 */
import type Stripe from 'stripe';
import { OrderedStore } from '../api/paging.js';
import { stripeId } from './stripe-objects.js';

export interface SessionExtras {
  readonly lineItems: Stripe.LineItem[];
  readonly subscriptionMetadata: Stripe.Metadata;
  readonly trialPeriodDays: number | undefined;
}

export interface StoredResponse {
  readonly fingerprint: string;
  readonly status: number;
  readonly body: string;
}

/** A renewal invoice that failed and is being retried (Stripe's smart retries, fixed days here). */
export interface DunningState {
  readonly invoice: string;
  /** Attempts made so far (the first is the renewal itself). */
  readonly attempts: number;
  /** When the first attempt failed; retries are counted from it. */
  readonly failedAt: number;
  readonly nextAttempt: number;
}

export interface WebhookEndpointRecord {
  readonly endpoint: Stripe.WebhookEndpoint;
  readonly secret: string;
}

/** The JSON form of an account (`snapshot()` / `Account.restore`). */
export interface AccountSnapshot {
  readonly [store: string]: unknown;
}

export class Account {
  readonly customers = new OrderedStore<Stripe.Customer>();
  readonly products = new OrderedStore<Stripe.Product>();
  readonly prices = new OrderedStore<Stripe.Price>();
  readonly subscriptions = new OrderedStore<Stripe.Subscription>();
  readonly invoices = new OrderedStore<Stripe.Invoice>();
  readonly checkoutSessions = new OrderedStore<Stripe.Checkout.Session>();
  readonly portalSessions = new OrderedStore<Stripe.BillingPortal.Session>();
  readonly events = new OrderedStore<Stripe.Event>();
  readonly webhookEndpoints = new OrderedStore<Stripe.WebhookEndpoint>();
  readonly sessionExtras = new Map<string, SessionExtras>();
  readonly idempotent = new Map<string, StoredResponse>();
  /** The signing secret of each webhook endpoint (Stripe shows it only on create). */
  readonly endpointSecrets = new Map<string, string>();
  /** The test card number of each customer's default payment method. */
  readonly cards = new Map<string, string>();
  /** By subscription id. */
  readonly dunning = new Map<string, DunningState>();
  /** By identifier, in the order accepted. */
  readonly meterEvents = new Map<string, Stripe.Billing.MeterEvent>();
  portalConfiguration = stripeId('bpc_');

  snapshot(): AccountSnapshot {
    const stores: Record<string, unknown> = {};
    for (const [name, store] of this.orderedStores()) stores[name] = store.values();
    for (const [name, map] of this.maps()) stores[name] = [...map.entries()];
    return { ...stores, portalConfiguration: this.portalConfiguration };
  }

  static restore(snapshot: AccountSnapshot): Account {
    const account = new Account();
    for (const [name, store] of account.orderedStores()) {
      const items = snapshot[name];
      if (Array.isArray(items)) for (const item of items) store.put(item);
    }
    for (const [name, map] of account.maps()) {
      const entries = snapshot[name];
      if (Array.isArray(entries)) for (const [key, value] of entries) map.set(key, value);
    }
    const configuration = snapshot.portalConfiguration;
    if (typeof configuration === 'string') account.portalConfiguration = configuration;
    return account;
  }

  // Typed loosely on purpose: snapshots are the sandbox's own files, read back as written.
  private orderedStores(): [string, OrderedStore<{ id: string }>][] {
    return [
      ['customers', this.customers],
      ['products', this.products],
      ['prices', this.prices],
      ['subscriptions', this.subscriptions],
      ['invoices', this.invoices],
      ['checkoutSessions', this.checkoutSessions],
      ['portalSessions', this.portalSessions],
      ['events', this.events],
      ['webhookEndpoints', this.webhookEndpoints],
    ];
  }

  private maps(): [string, Map<string, unknown>][] {
    return [
      ['sessionExtras', this.sessionExtras],
      ['idempotent', this.idempotent],
      ['endpointSecrets', this.endpointSecrets],
      ['cards', this.cards],
      ['dunning', this.dunning],
      ['meterEvents', this.meterEvents],
    ];
  }
}
