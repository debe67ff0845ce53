/**
 * A stateful local fake of the Stripe REST API (v1), for tests. The real
 * `stripe` SDK, pointed at it with `fake.makeClient(apiKey)` (or the service's
 * own client built from `fake.sdkConfig`), can:
 *
 * - `customers.create` (honours `Idempotency-Key`), `.retrieve`, `.list` (`email`);
 * - `checkout.sessions.create` (modes `payment` and `subscription`), `.retrieve`
 *   (`expand: ['line_items']`), `.list`, `.listLineItems`;
 * - `billingPortal.sessions.create`;
 * - `subscriptions.list` (`status`, `customer`, `price`, cursors, auto-pagination,
 *   `expand: ['data.customer']`), `.retrieve`;
 * - `prices.retrieve`;
 * - `billing.meterEvents.create` (v1): stores events per account, one per
 *   `identifier` for 24 hours (a second one is refused with Stripe's 400
 *   "An event already exists with identifier ..."), and checks the fields
 *   Stripe checks at once: `event_name`, `payload.stripe_customer_id`,
 *   `payload.value` (an integer in a string), `timestamp` (at most 35 days old,
 *   5 minutes ahead).
 *
 * Like Stripe, it keeps every account apart by API key, answers errors in
 * Stripe's envelope (`{ error: { type, code, message, param } }`) with Stripe's
 * HTTP statuses (so the SDK raises its own error classes), rejects unknown
 * parameters, replays a POST with the same `Idempotency-Key` (per API key),
 * and lists newest first. Anything else answers 404 like an unknown URL.
 *
 * Tests drive it through the TypeScript control API of `FakeStripe` (seed
 * prices and subscriptions, inspect what the service created, count requests,
 * inject failures). Objects are built with `test/helpers/stripe-objects.ts`,
 * so they have the shape of Stripe's fixtures.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import {
  type CustomerSpec,
  makeCheckoutSession,
  makeCustomer,
  makeLineItem,
  makePortalSession,
  makePrice,
  makeSubscription,
  nowSeconds,
  type PriceSpec,
  STRIPE_API_VERSION,
  stripeId,
} from '../helpers/stripe-objects.js';

// --- Public control API ---

export interface FakeStripeOptions {
  /**
   * The only API keys the fake accepts. Default: any key that looks like a
   * test secret or restricted key (`sk_test_...`, `rk_test_...`).
   */
  readonly apiKeys?: readonly string[];
}

export interface FakeStripeRequest {
  readonly method: string;
  /** The path without the query string, e.g. `/v1/subscriptions`. */
  readonly path: string;
  /** The raw query string, without `?` (GET parameters). */
  readonly query: string;
  /** The API key the request carried (`null` if none). */
  readonly apiKey: string | null;
  readonly idempotencyKey: string | null;
  /** The HTTP status answered (0 for a dropped connection). */
  readonly status: number;
}

/** One request held by `holdNext`. */
export interface FakeHold {
  /** Resolves when the held request has arrived. */
  readonly held: Promise<void>;
  /** Lets the held request go on (also before it arrived: then it is not held). */
  release(): void;
}

/** How `failNext` answers: an HTTP status (500, 503, 429, ...) or a dropped connection. */
export type FakeFailure = number | 'disconnect';

export interface CompleteCheckoutOptions {
  readonly apiKey?: string;
  /** Default `paid`; `unpaid` for an async payment method (then `async_payment_succeeded`). */
  readonly payment_status?: Stripe.Checkout.Session.PaymentStatus;
  readonly customer_email?: string;
  /** Time of completion (Unix seconds); default now. */
  readonly now?: number;
}

export interface CompletedCheckout {
  readonly session: Stripe.Checkout.Session;
  /** The subscription Stripe created (subscription mode), already stored in the fake. */
  readonly subscription: Stripe.Subscription | null;
  readonly customer: Stripe.Customer;
}

export interface FakeStripe {
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** What to pass to `new Stripe(key, { ...fake.sdkConfig })` (or the service's config). */
  readonly sdkConfig: { readonly host: string; readonly port: number; readonly protocol: 'http' };
  /**
   * The account that seeding methods and `completeCheckoutSession` use when
   * given no API key (the first of `apiKeys`, else `sk_test_fake_default`).
   * The listing methods (`subscriptions()`, `customers()`, ...) given no API
   * key return the objects of every account.
   */
  readonly defaultApiKey: string;
  /** Every request answered, in order. */
  readonly requestLog: FakeStripeRequest[];
  close(): Promise<void>;
  /** A real SDK client pointed at the fake, with `maxNetworkRetries: 0` unless overridden. */
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
  /** Meter events accepted, oldest first (one per identifier); without an API key, every account's. */
  meterEvents(apiKey?: string): Stripe.Billing.MeterEvent[];
  /**
   * What Stripe does when the buyer pays: the session becomes `complete`, a
   * customer is created if it had none, and in subscription mode a
   * subscription with the session's recurring prices is created and stored.
   * Returns the objects a test puts in `checkout.session.completed` and
   * `customer.subscription.created` events.
   */
  completeCheckoutSession(id: string, options?: CompleteCheckoutOptions): CompletedCheckout;
  /** Answers the next `n` requests (any route, any key) with `failure` (default 500). */
  failNext(n: number, failure?: FakeFailure): void;
  /**
   * Holds the next request (any route, any key) before answering it, so a
   * test can act while a caller is inside a call to Stripe: `held` resolves
   * once that request has arrived, `release()` lets it be answered.
   */
  holdNext(): FakeHold;
  clearRequestLog(): void;
  /** Forgets every account, the request log, pending failures and holds not used yet. */
  reset(): void;
}

// --- Errors in Stripe's envelope ---

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly code?: string,
    readonly param?: string,
  ) {
    super(message);
  }

  toJSON(): { error: Record<string, string> } {
    const error: Record<string, string> = { type: this.type, message: this.message };
    if (this.code !== undefined) {
      error.code = this.code;
      error.doc_url = `https://stripe.com/docs/error-codes/${this.code.replaceAll('_', '-')}`;
    }
    if (this.param !== undefined) error.param = this.param;
    return { error };
  }
}

function invalid(message: string, param?: string, code?: string): ApiError {
  return new ApiError(400, 'invalid_request_error', message, code, param);
}

function missingParam(param: string): ApiError {
  return invalid(`Missing required param: ${param}.`, param, 'parameter_missing');
}

function noSuch(kind: string, id: string, param: string, status = 400): ApiError {
  return new ApiError(
    status,
    'invalid_request_error',
    `No such ${kind}: '${id}'`,
    'resource_missing',
    param,
  );
}

// --- Form bodies and query strings (bracket notation) ---

type FormValue = string | FormValue[] | FormObject;
interface FormObject {
  [key: string]: FormValue;
}

function isFormObject(value: FormValue | undefined): value is FormObject {
  return typeof value === 'object' && !Array.isArray(value);
}

function decodeComponent(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    throw invalid(`Invalid URL encoding: ${text}`);
  }
}

/** `a[b][0][c]=v&a[b][]=w&metadata[k]=v` into nested objects; index-keyed objects become arrays. */
function parseForm(text: string): FormObject {
  const root: FormObject = {};
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = decodeComponent(eq === -1 ? pair : pair.slice(0, eq));
    const value = decodeComponent(eq === -1 ? '' : pair.slice(eq + 1));
    const open = key.indexOf('[');
    const head = open === -1 ? key : key.slice(0, open);
    const rest = open === -1 ? '' : key.slice(open);
    const segments = [head];
    for (const match of rest.matchAll(/\[([^\]]*)\]/g)) segments.push(match[1] ?? '');
    let target = root;
    for (let i = 0; i < segments.length; i += 1) {
      const raw = segments[i] ?? '';
      const segment = raw === '' && i > 0 ? String(Object.keys(target).length) : raw;
      if (i === segments.length - 1) {
        target[segment] = value;
      } else {
        const next = target[segment];
        if (isFormObject(next)) {
          target = next;
        } else {
          const created: FormObject = {};
          target[segment] = created;
          target = created;
        }
      }
    }
  }
  return withArrays(root, false);
}

function withArrays(object: FormObject, isMetadata: boolean): FormObject {
  for (const [key, value] of Object.entries(object)) {
    if (isFormObject(value)) {
      const converted = withArrays(value, key === 'metadata');
      const keys = Object.keys(converted);
      const indexed =
        key !== 'metadata' &&
        !isMetadata &&
        keys.length > 0 &&
        keys.every((k, i) => k === String(i));
      object[key] = indexed ? keys.map((k) => converted[k] ?? '') : converted;
    }
  }
  return object;
}

/** Typed access to one level of request parameters, with Stripe's error messages. */
class Params {
  constructor(
    readonly values: FormObject,
    private readonly prefix = '',
  ) {}

  name(key: string): string {
    return this.prefix === '' ? key : `${this.prefix}[${key}]`;
  }

  has(key: string): boolean {
    return this.values[key] !== undefined;
  }

  /** Rejects parameters Stripe would not know (`Received unknown parameter`). */
  allow(known: readonly string[]): this {
    for (const key of Object.keys(this.values)) {
      if (!known.includes(key)) {
        throw invalid(`Received unknown parameter: ${this.name(key)}`, this.name(key));
      }
    }
    return this;
  }

  string(key: string): string | undefined {
    const value = this.values[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') {
      throw invalid(`Invalid string: ${JSON.stringify(value)}`, this.name(key));
    }
    return value;
  }

  /** A string that must be present and not empty. */
  required(key: string): string {
    const value = this.string(key);
    if (value === undefined || value === '') throw missingParam(this.name(key));
    return value;
  }

  enumValue<T extends string>(key: string, allowed: readonly T[]): T | undefined {
    const value = this.string(key);
    if (value === undefined) return undefined;
    const found = allowed.find((candidate) => candidate === value);
    if (found === undefined) {
      throw invalid(
        `Invalid ${this.name(key)}: must be one of ${allowed.join(', ')}`,
        this.name(key),
      );
    }
    return found;
  }

  integer(key: string, min?: number, max?: number): number | undefined {
    const value = this.string(key);
    if (value === undefined) return undefined;
    if (!/^-?\d+$/.test(value)) throw invalid(`Invalid integer: ${value}`, this.name(key));
    const number = Number(value);
    if (min !== undefined && number < min) {
      throw invalid(`This value must be greater than or equal to ${min}.`, this.name(key));
    }
    if (max !== undefined && number > max) {
      throw invalid(`This value must be less than or equal to ${max}.`, this.name(key));
    }
    return number;
  }

  boolean(key: string): boolean | undefined {
    const value = this.string(key);
    if (value === undefined) return undefined;
    if (value !== 'true' && value !== 'false') {
      throw invalid(`Invalid boolean: ${value}`, this.name(key));
    }
    return value === 'true';
  }

  object(key: string): Params | undefined {
    const value = this.values[key];
    if (value === undefined) return undefined;
    if (!isFormObject(value)) throw invalid(`Invalid hash`, this.name(key));
    return new Params(value, this.name(key));
  }

  objects(key: string): Params[] | undefined {
    const value = this.values[key];
    if (value === undefined) return undefined;
    if (!Array.isArray(value)) throw invalid(`Invalid array`, this.name(key));
    return value.map((item, index) => {
      const name = `${this.name(key)}[${index}]`;
      if (!isFormObject(item)) throw invalid(`Invalid hash`, name);
      return new Params(item, name);
    });
  }

  strings(key: string): string[] {
    const value = this.values[key];
    if (value === undefined) return [];
    if (typeof value === 'string') return [value];
    if (!Array.isArray(value)) throw invalid(`Invalid array`, this.name(key));
    return value.map((item) => {
      if (typeof item !== 'string') throw invalid(`Invalid array`, this.name(key));
      return item;
    });
  }

  /** Stripe's metadata rules: at most 50 keys of 40 characters, values of 500; `''` unsets. */
  metadata(key = 'metadata'): Stripe.Metadata | undefined {
    const value = this.values[key];
    if (value === undefined) return undefined;
    if (value === '') return {};
    if (!isFormObject(value)) throw invalid('Invalid hash', this.name(key));
    const out: Stripe.Metadata = {};
    for (const [k, v] of Object.entries(value)) {
      if (typeof v !== 'string') throw invalid('Invalid string', `${this.name(key)}[${k}]`);
      if (k.length > 40) {
        throw invalid(`Metadata keys can have up to 40 characters.`, `${this.name(key)}[${k}]`);
      }
      if (v.length > 500) {
        throw invalid(`Metadata values can have up to 500 characters.`, `${this.name(key)}[${k}]`);
      }
      if (v !== '') out[k] = v;
    }
    if (Object.keys(out).length > 50) {
      throw invalid('You can specify up to 50 keys in metadata.', this.name(key));
    }
    return out;
  }
}

// --- Stored objects, listed newest first with Stripe's cursors ---

class OrderedStore<T extends { id: string }> {
  private readonly byId = new Map<string, T>();
  private order: string[] = [];
  private readonly position = new Map<string, number>();
  private positionsStale = false;

  get size(): number {
    return this.byId.size;
  }

  get(id: string): T | undefined {
    return this.byId.get(id);
  }

  /** Adds as the newest, or replaces in place. */
  put(item: T): void {
    if (!this.byId.has(item.id)) {
      this.position.set(item.id, this.order.length);
      this.order.push(item.id);
    }
    this.byId.set(item.id, item);
  }

  delete(id: string): boolean {
    if (!this.byId.delete(id)) return false;
    this.order = this.order.filter((other) => other !== id);
    this.positionsStale = true;
    return true;
  }

  /** Oldest first. */
  values(): T[] {
    return this.order.flatMap((id) => {
      const item = this.byId.get(id);
      return item === undefined ? [] : [item];
    });
  }

  private indexOf(id: string): number | undefined {
    if (this.positionsStale) {
      this.position.clear();
      for (const [index, other] of this.order.entries()) this.position.set(other, index);
      this.positionsStale = false;
    }
    return this.position.get(id);
  }

  /**
   * One page, newest first. `startingAfter`: the next older items;
   * `endingBefore`: the items just newer than it (still newest first).
   */
  page(
    limit: number,
    cursor: { startingAfter?: string; endingBefore?: string },
    matches: (item: T) => boolean,
    missingCursor: (id: string, param: string) => ApiError,
  ): { data: T[]; hasMore: boolean } {
    const collected: T[] = [];
    const take = (index: number): boolean => {
      const id = this.order[index];
      const item = id === undefined ? undefined : this.byId.get(id);
      if (item !== undefined && matches(item)) collected.push(item);
      return collected.length > limit;
    };
    if (cursor.endingBefore !== undefined) {
      const at = this.indexOf(cursor.endingBefore);
      if (at === undefined) throw missingCursor(cursor.endingBefore, 'ending_before');
      for (let i = at + 1; i < this.order.length && !take(i); i += 1);
      const hasMore = collected.length > limit;
      return { data: collected.slice(0, limit).reverse(), hasMore };
    }
    let from = this.order.length - 1;
    if (cursor.startingAfter !== undefined) {
      const at = this.indexOf(cursor.startingAfter);
      if (at === undefined) throw missingCursor(cursor.startingAfter, 'starting_after');
      from = at - 1;
    }
    for (let i = from; i >= 0 && !take(i); i -= 1);
    return { data: collected.slice(0, limit), hasMore: collected.length > limit };
  }
}

interface SessionExtras {
  readonly lineItems: Stripe.LineItem[];
  readonly subscriptionMetadata: Stripe.Metadata;
  readonly trialPeriodDays: number | undefined;
}

interface StoredResponse {
  readonly fingerprint: string;
  readonly status: number;
  readonly body: string;
}

class Account {
  readonly customers = new OrderedStore<Stripe.Customer>();
  readonly prices = new OrderedStore<Stripe.Price>();
  readonly subscriptions = new OrderedStore<Stripe.Subscription>();
  readonly checkoutSessions = new OrderedStore<Stripe.Checkout.Session>();
  readonly sessionExtras = new Map<string, SessionExtras>();
  readonly portalSessions = new OrderedStore<Stripe.BillingPortal.Session>();
  readonly idempotent = new Map<string, StoredResponse>();
  readonly portalConfiguration = stripeId('bpc_');
  /** By identifier, in the order accepted. */
  readonly meterEvents = new Map<string, Stripe.Billing.MeterEvent>();
}

// --- Route handlers ---

interface RequestContext {
  readonly account: Account;
  readonly params: Params;
  readonly id: string;
}

type Handler = (context: RequestContext) => object;

const LIST_PARAMS = ['limit', 'starting_after', 'ending_before', 'expand'] as const;

function listResponse<T extends { id: string }>(
  store: OrderedStore<T>,
  params: Params,
  url: string,
  kind: string,
  matches: (item: T) => boolean = () => true,
): Stripe.ApiList<T> {
  const limit = params.integer('limit', 1, 100) ?? 10;
  const startingAfter = params.string('starting_after');
  const endingBefore = params.string('ending_before');
  if (startingAfter !== undefined && endingBefore !== undefined) {
    throw invalid('You may only specify one of these parameters: ending_before, starting_after.');
  }
  const { data, hasMore } = store.page(
    limit,
    {
      ...(startingAfter === undefined ? {} : { startingAfter }),
      ...(endingBefore === undefined ? {} : { endingBefore }),
    },
    matches,
    (id, param) => noSuch(kind, id, param),
  );
  return { object: 'list', data, has_more: hasMore, url };
}

function createCustomer({ account, params }: RequestContext): Stripe.Customer {
  params.allow([
    'email',
    'name',
    'description',
    'phone',
    'metadata',
    'expand',
    'address',
    'preferred_locales',
    'invoice_settings',
    'payment_method',
    'shipping',
    'tax_exempt',
    'test_clock',
  ]);
  const email = params.string('email');
  if (email !== undefined && email.length > 512) {
    throw invalid('Invalid email address: too long', 'email');
  }
  const customer = makeCustomer({
    email: email ?? null,
    name: params.string('name') ?? null,
    description: params.string('description') ?? null,
    phone: params.string('phone') ?? null,
    metadata: params.metadata() ?? {},
  });
  account.customers.put(customer);
  return customer;
}

function retrieveCustomer({ account, id }: RequestContext): Stripe.Customer {
  const customer = account.customers.get(id);
  if (customer === undefined) throw noSuch('customer', id, 'id', 404);
  return customer;
}

function listCustomers({ account, params }: RequestContext): Stripe.ApiList<Stripe.Customer> {
  params.allow([...LIST_PARAMS, 'email', 'created', 'test_clock']);
  const email = params.string('email');
  return listResponse(
    account.customers,
    params,
    '/v1/customers',
    'customer',
    (customer) => email === undefined || customer.email === email,
  );
}

const CHECKOUT_PARAMS = [
  'mode',
  'line_items',
  'customer',
  'customer_email',
  'success_url',
  'cancel_url',
  'client_reference_id',
  'metadata',
  'subscription_data',
  'payment_intent_data',
  'allow_promotion_codes',
  'automatic_tax',
  'billing_address_collection',
  'consent_collection',
  'customer_creation',
  'customer_update',
  'discounts',
  'expand',
  'expires_at',
  'invoice_creation',
  'locale',
  'payment_method_collection',
  'payment_method_types',
  'phone_number_collection',
  'saved_payment_method_options',
  'submit_type',
  'tax_id_collection',
  'ui_mode',
] as const;

function createCheckoutSession({ account, params }: RequestContext): Stripe.Checkout.Session {
  params.allow(CHECKOUT_PARAMS);
  const modeValue = params.string('mode');
  if (modeValue === undefined) throw missingParam('mode');
  const mode = params.enumValue('mode', ['payment', 'subscription', 'setup'] as const);
  if (mode === 'setup' || mode === undefined) {
    throw invalid('The fake Stripe API does not support `setup` mode.', 'mode');
  }
  const successUrl = params.string('success_url');
  const uiMode = params.string('ui_mode');
  if (
    (successUrl === undefined || successUrl === '') &&
    (uiMode ?? 'hosted_page') === 'hosted_page'
  ) {
    throw missingParam('success_url');
  }
  for (const key of ['success_url', 'cancel_url'] as const) {
    const url = params.string(key);
    if (url !== undefined && !/^https?:\/\/[^\s]+$/.test(url)) {
      throw invalid(`Not a valid URL`, key, 'url_invalid');
    }
  }
  const customerId = params.string('customer');
  if (customerId !== undefined && account.customers.get(customerId) === undefined) {
    throw noSuch('customer', customerId, 'customer');
  }
  const customerEmail = params.string('customer_email');
  if (customerId !== undefined && customerEmail !== undefined) {
    throw invalid(
      'You may only specify one of these parameters: customer, customer_email.',
      'customer_email',
    );
  }
  const clientReferenceId = params.string('client_reference_id');
  if (clientReferenceId !== undefined && clientReferenceId.length > 200) {
    throw invalid('client_reference_id must be at most 200 characters.', 'client_reference_id');
  }

  const items = params.objects('line_items');
  if (items === undefined || items.length === 0) throw missingParam('line_items');
  const lineItems = items.map((item) => {
    item.allow([
      'price',
      'price_data',
      'quantity',
      'adjustable_quantity',
      'tax_rates',
      'dynamic_tax_rates',
    ]);
    if (item.has('price_data')) {
      throw invalid('The fake Stripe API does not support `price_data`.', item.name('price_data'));
    }
    const priceId = item.required('price');
    const price = account.prices.get(priceId);
    if (price === undefined) throw noSuch('price', priceId, item.name('price'));
    if (!price.active) {
      throw invalid(
        'The price specified is inactive. This field only accepts active prices.',
        item.name('price'),
      );
    }
    const quantity = item.integer('quantity', 0, 999_999);
    if (quantity === undefined) {
      throw invalid(
        `Quantity is required. Add \`quantity\` to \`${item.name('quantity').replace(/\[quantity\]$/, '')}\``,
        item.name('quantity'),
        'parameter_missing',
      );
    }
    if (mode === 'payment' && price.recurring !== null) {
      throw invalid(
        'You specified `payment` mode but passed a recurring price. Either switch to ' +
          '`subscription` mode or use only one-time prices.',
        item.name('price'),
      );
    }
    return makeLineItem({ price, quantity });
  });
  const currency = lineItems[0]?.currency ?? 'usd';
  lineItems.forEach((line, index) => {
    if (line.currency !== currency) {
      throw invalid('All prices must be in the same currency.', `line_items[${index}][price]`);
    }
  });
  if (mode === 'subscription' && !lineItems.some((line) => line.price?.recurring != null)) {
    throw invalid(
      'You must provide at least one recurring price in `subscription` mode when using prices.',
      'line_items[0][price]',
    );
  }
  const subscriptionData = params.object('subscription_data');
  subscriptionData?.allow([
    'metadata',
    'trial_period_days',
    'description',
    'trial_end',
    'trial_settings',
  ]);
  if (mode === 'payment' && subscriptionData !== undefined) {
    throw invalid('You can not pass `subscription_data` in `payment` mode.', 'subscription_data');
  }
  const subscriptionMetadata = subscriptionData?.metadata() ?? {};
  const trialPeriodDays = subscriptionData?.integer('trial_period_days', 1, 730);

  const total = lineItems.reduce((sum, line) => sum + line.amount_total, 0);
  const allowPromotionCodes = params.boolean('allow_promotion_codes');
  const session = makeCheckoutSession({
    id: stripeId('cs_test_a1', 56),
    mode,
    status: 'open',
    payment_status: 'unpaid',
    customer: customerId ?? null,
    customer_email: customerEmail ?? null,
    amount_subtotal: total,
    amount_total: total,
    currency,
    client_reference_id: clientReferenceId ?? null,
    metadata: params.metadata() ?? {},
    success_url: successUrl ?? null,
    cancel_url: params.string('cancel_url') ?? null,
  });
  if (allowPromotionCodes !== undefined) session.allow_promotion_codes = allowPromotionCodes;
  account.checkoutSessions.put(session);
  account.sessionExtras.set(session.id, { lineItems, subscriptionMetadata, trialPeriodDays });
  return withExpansions(account, session, params.strings('expand'));
}

function withExpansions(
  account: Account,
  session: Stripe.Checkout.Session,
  expand: readonly string[],
): Stripe.Checkout.Session {
  if (!expand.includes('line_items')) return session;
  const lineItems = account.sessionExtras.get(session.id)?.lineItems ?? [];
  return {
    ...session,
    line_items: {
      object: 'list',
      data: lineItems,
      has_more: false,
      url: `/v1/checkout/sessions/${session.id}/line_items`,
    },
  };
}

function retrieveCheckoutSession({ account, params, id }: RequestContext): Stripe.Checkout.Session {
  params.allow(['expand']);
  const session = account.checkoutSessions.get(id);
  if (session === undefined) throw noSuch('checkout.session', id, 'session', 404);
  return withExpansions(account, session, params.strings('expand'));
}

function listCheckoutSessions({
  account,
  params,
}: RequestContext): Stripe.ApiList<Stripe.Checkout.Session> {
  params.allow([...LIST_PARAMS, 'customer', 'status', 'subscription', 'payment_intent', 'created']);
  const customer = params.string('customer');
  const status = params.string('status');
  const subscription = params.string('subscription');
  return listResponse(
    account.checkoutSessions,
    params,
    '/v1/checkout/sessions',
    'checkout.session',
    (session) =>
      (customer === undefined || session.customer === customer) &&
      (status === undefined || session.status === status) &&
      (subscription === undefined || session.subscription === subscription),
  );
}

function listCheckoutLineItems({
  account,
  params,
  id,
}: RequestContext): Stripe.ApiList<Stripe.LineItem> {
  params.allow(LIST_PARAMS);
  if (account.checkoutSessions.get(id) === undefined) {
    throw noSuch('checkout.session', id, 'session', 404);
  }
  const store = new OrderedStore<Stripe.LineItem>();
  // Stripe lists line items in the order given; the store lists newest first.
  for (const item of [...(account.sessionExtras.get(id)?.lineItems ?? [])].reverse()) {
    store.put(item);
  }
  return listResponse(store, params, `/v1/checkout/sessions/${id}/line_items`, 'line item');
}

function createPortalSession({ account, params }: RequestContext): Stripe.BillingPortal.Session {
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
  });
  account.portalSessions.put(session);
  return session;
}

const SUBSCRIPTION_STATUSES = [
  'active',
  'all',
  'canceled',
  'ended',
  'incomplete',
  'incomplete_expired',
  'past_due',
  'paused',
  'trialing',
  'unpaid',
] as const;

function listSubscriptions({
  account,
  params,
}: RequestContext): Stripe.ApiList<Stripe.Subscription> {
  params.allow([
    ...LIST_PARAMS,
    'status',
    'customer',
    'price',
    'created',
    'current_period_end',
    'current_period_start',
    'collection_method',
    'automatic_tax',
    'test_clock',
  ]);
  const status = params.enumValue('status', SUBSCRIPTION_STATUSES);
  const customer = params.string('customer');
  const price = params.string('price');
  const statusMatches = (sub: Stripe.Subscription): boolean => {
    switch (status) {
      case undefined:
        return sub.status !== 'canceled';
      case 'all':
        return true;
      case 'ended':
        return sub.status === 'canceled' || sub.status === 'incomplete_expired';
      default:
        return sub.status === status;
    }
  };
  const list = listResponse(
    account.subscriptions,
    params,
    '/v1/subscriptions',
    'subscription',
    (sub) =>
      statusMatches(sub) &&
      (customer === undefined || customerId(sub.customer) === customer) &&
      (price === undefined || sub.items.data.some((item) => item.price.id === price)),
  );
  if (!params.strings('expand').includes('data.customer')) return list;
  return { ...list, data: list.data.map((sub) => withCustomer(account, sub)) };
}

/** `expand: ['data.customer']`: the customer object in place of its id (deleted when gone). */
function withCustomer(account: Account, sub: Stripe.Subscription): Stripe.Subscription {
  const id = customerId(sub.customer);
  const customer: Stripe.Customer | Stripe.DeletedCustomer = account.customers.get(id) ?? {
    id,
    object: 'customer',
    deleted: true,
  };
  return { ...sub, customer };
}

function customerId(customer: string | { id: string }): string {
  return typeof customer === 'string' ? customer : customer.id;
}

function retrieveSubscription({ account, params, id }: RequestContext): Stripe.Subscription {
  params.allow(['expand']);
  const subscription = account.subscriptions.get(id);
  if (subscription === undefined) throw noSuch('subscription', id, 'id', 404);
  return subscription;
}

function retrievePrice({ account, params, id }: RequestContext): Stripe.Price {
  params.allow(['expand']);
  const price = account.prices.get(id);
  if (price === undefined) throw noSuch('price', id, 'price', 404);
  return price;
}

/** How long Stripe refuses a second event with the same identifier. */
const METER_IDENTIFIER_WINDOW_SECONDS = 24 * 3600;
const METER_MAX_AGE_SECONDS = 35 * 86_400;
const METER_MAX_AHEAD_SECONDS = 300;

function createMeterEvent({ account, params }: RequestContext): Stripe.Billing.MeterEvent {
  params.allow(['event_name', 'payload', 'identifier', 'timestamp', 'expand']);
  const eventName = params.required('event_name');
  if (eventName.length > 100) throw invalid('event_name is too long (max 100).', 'event_name');
  const payload = params.object('payload');
  if (payload === undefined) throw missingParam('payload');
  const customer = payload.required('stripe_customer_id');
  const value = payload.required('value');
  if (!/^-?\d+$/.test(value)) {
    throw invalid(`Invalid value: ${value} is not a number.`, payload.name('value'));
  }
  const now = nowSeconds();
  const timestamp = params.integer('timestamp') ?? now;
  if (timestamp < now - METER_MAX_AGE_SECONDS) {
    throw invalid('Timestamp must be within the past 35 calendar days.', 'timestamp');
  }
  if (timestamp > now + METER_MAX_AHEAD_SECONDS) {
    throw invalid('Timestamp must not be more than 5 minutes in the future.', 'timestamp');
  }
  const identifier = params.string('identifier') ?? stripeId('mev_');
  if (identifier.length > 100) throw invalid('identifier is too long (max 100).', 'identifier');
  const seen = account.meterEvents.get(identifier);
  if (seen !== undefined && seen.created > now - METER_IDENTIFIER_WINDOW_SECONDS) {
    throw invalid(`An event already exists with identifier ${identifier}.`, 'identifier');
  }
  const event: Stripe.Billing.MeterEvent = {
    object: 'billing.meter_event',
    created: now,
    event_name: eventName,
    identifier,
    livemode: false,
    payload: meterPayload(payload, { stripe_customer_id: customer, value }),
    timestamp,
  };
  account.meterEvents.delete(identifier);
  account.meterEvents.set(identifier, event);
  return event;
}

/** The payload's keys, each a string as Stripe requires. */
function meterPayload(payload: Params, checked: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(payload.values)) {
    const value = payload.string(key);
    if (value !== undefined) out[key] = value;
  }
  return { ...out, ...checked };
}

const ROUTES: readonly { method: string; path: RegExp; handler: Handler }[] = [
  { method: 'POST', path: /^\/v1\/customers$/, handler: createCustomer },
  { method: 'GET', path: /^\/v1\/customers$/, handler: listCustomers },
  { method: 'GET', path: /^\/v1\/customers\/([^/]+)$/, handler: retrieveCustomer },
  { method: 'POST', path: /^\/v1\/checkout\/sessions$/, handler: createCheckoutSession },
  { method: 'GET', path: /^\/v1\/checkout\/sessions$/, handler: listCheckoutSessions },
  { method: 'GET', path: /^\/v1\/checkout\/sessions\/([^/]+)$/, handler: retrieveCheckoutSession },
  {
    method: 'GET',
    path: /^\/v1\/checkout\/sessions\/([^/]+)\/line_items$/,
    handler: listCheckoutLineItems,
  },
  { method: 'POST', path: /^\/v1\/billing_portal\/sessions$/, handler: createPortalSession },
  { method: 'GET', path: /^\/v1\/subscriptions$/, handler: listSubscriptions },
  { method: 'GET', path: /^\/v1\/subscriptions\/([^/]+)$/, handler: retrieveSubscription },
  { method: 'GET', path: /^\/v1\/prices\/([^/]+)$/, handler: retrievePrice },
  { method: 'POST', path: /^\/v1\/billing\/meter_events$/, handler: createMeterEvent },
];

// --- HTTP ---

const TEST_KEY = /^(sk|rk)_test_[A-Za-z0-9_]+$/;
const DEFAULT_API_KEY = 'sk_test_fake_default';

function apiKeyOf(request: IncomingMessage): string | null {
  const header = request.headers.authorization;
  if (header === undefined) return null;
  const bearer = /^Bearer\s+(.+)$/i.exec(header);
  if (bearer?.[1] !== undefined) return bearer[1].trim();
  const basic = /^Basic\s+(.+)$/i.exec(header);
  if (basic?.[1] !== undefined) {
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    return decoded.split(':')[0] ?? null;
  }
  return null;
}

function redact(key: string): string {
  return `${key.slice(0, 8)}${'*'.repeat(Math.max(0, key.length - 12))}${key.slice(-4)}`;
}

function canonical(value: FormValue): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k] ?? '')}`).join(',')}}`;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function startFakeStripe(options: FakeStripeOptions = {}): Promise<FakeStripe> {
  const allowedKeys = options.apiKeys === undefined ? undefined : new Set(options.apiKeys);
  const defaultApiKey = options.apiKeys?.[0] ?? DEFAULT_API_KEY;
  let accounts = new Map<string, Account>();
  const requestLog: FakeStripeRequest[] = [];
  const failures: FakeFailure[] = [];
  /** Gates that the next requests wait at, one each (holdNext). */
  const holds: Array<{ arrived: () => void; released: Promise<void> }> = [];

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

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const method = request.method ?? 'GET';
    const apiKey = apiKeyOf(request);
    const idempotencyHeader = request.headers['idempotency-key'];
    const idempotencyKey = typeof idempotencyHeader === 'string' ? idempotencyHeader : null;
    const body = await readBody(request);
    const hold = holds.shift();
    if (hold !== undefined) {
      hold.arrived();
      await hold.released;
    }
    const log = (status: number): void => {
      requestLog.push({
        method,
        path: url.pathname,
        query: url.search.replace(/^\?/, ''),
        apiKey,
        idempotencyKey,
        status,
      });
    };
    const requestId = stripeId('req_', 14);
    const send = (status: number, json: string, extra: Record<string, string> = {}): void => {
      log(status);
      response.writeHead(status, {
        'content-type': 'application/json',
        'request-id': requestId,
        'stripe-version': STRIPE_API_VERSION,
        ...(idempotencyKey === null ? {} : { 'idempotency-key': idempotencyKey }),
        ...extra,
      });
      response.end(json);
    };
    const sendError = (error: ApiError): void => send(error.status, JSON.stringify(error));

    const failure = failures.shift();
    if (failure === 'disconnect') {
      log(0);
      request.socket.destroy();
      return;
    }
    if (failure !== undefined) {
      const type = failure === 429 ? 'invalid_request_error' : 'api_error';
      const code = failure === 429 ? 'rate_limit' : undefined;
      const message =
        failure === 429
          ? 'Too many requests hit the API too quickly.'
          : failure === 503
            ? 'Stripe is temporarily unavailable (fake Stripe failNext).'
            : 'An unknown error occurred (fake Stripe failNext).';
      sendError(new ApiError(failure, type, message, code));
      return;
    }

    if (apiKey === null || apiKey === '') {
      sendError(
        new ApiError(
          401,
          'invalid_request_error',
          'You did not provide an API key. You need to provide your API key in the ' +
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        ),
      );
      return;
    }
    if (!isValidKey(apiKey)) {
      sendError(
        new ApiError(
          401,
          'invalid_request_error',
          `Invalid API Key provided: ${redact(apiKey)}`,
          'api_key_invalid',
        ),
      );
      return;
    }
    const account = accountFor(apiKey);

    try {
      const contentType = request.headers['content-type'] ?? '';
      if (
        method === 'POST' &&
        body !== '' &&
        !contentType.startsWith('application/x-www-form-urlencoded')
      ) {
        throw invalid(
          `Invalid request: unsupported Content-Type ${contentType}. ` +
            'If error persists and you need assistance, please contact support@stripe.com.',
        );
      }
      const form = parseForm(method === 'GET' || method === 'DELETE' ? url.search.slice(1) : body);
      const fingerprint = `${method} ${url.pathname} ${canonical(form)}`;
      if (method === 'POST' && idempotencyKey !== null) {
        const stored = account.idempotent.get(idempotencyKey);
        if (stored !== undefined) {
          if (stored.fingerprint !== fingerprint) {
            throw new ApiError(
              400,
              'idempotency_error',
              'Keys for idempotent requests can only be used with the same parameters they ' +
                `were first used with. Try using a key other than '${idempotencyKey}' if you ` +
                'meant to execute a different request.',
            );
          }
          send(stored.status, stored.body, { 'idempotent-replayed': 'true' });
          return;
        }
      }
      let route: { handler: Handler; id: string } | undefined;
      for (const candidate of ROUTES) {
        const match = candidate.path.exec(url.pathname);
        if (match !== null && candidate.method === method) {
          route = { handler: candidate.handler, id: decodeComponent(match[1] ?? '') };
          break;
        }
      }
      if (route === undefined) {
        throw new ApiError(
          404,
          'invalid_request_error',
          `Unrecognized request URL (${method}: ${url.pathname}). Please see ` +
            'https://stripe.com/docs or we can help at https://support.stripe.com/.',
        );
      }
      const result = route.handler({ account, params: new Params(form), id: route.id });
      const json = JSON.stringify(result);
      if (method === 'POST' && idempotencyKey !== null) {
        account.idempotent.set(idempotencyKey, { fingerprint, status: 200, body: json });
      }
      send(200, json);
    } catch (error) {
      if (error instanceof ApiError) {
        sendError(error);
      } else {
        const message = error instanceof Error ? error.message : String(error);
        sendError(new ApiError(500, 'api_error', `Fake Stripe failed: ${message}`));
      }
    }
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) {
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify(new ApiError(500, 'api_error', String(error))));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const sdkConfig = { host: '127.0.0.1', port, protocol: 'http' } as const;

  const seedSubscription = (
    subscription: Stripe.Subscription,
    apiKey?: string,
  ): Stripe.Subscription => {
    const store = accountFor(apiKey).subscriptions;
    if (store.get(subscription.id) !== undefined) {
      throw new Error(`fake Stripe: subscription ${subscription.id} already exists`);
    }
    store.put(subscription);
    return subscription;
  };

  return {
    port,
    url: `http://127.0.0.1:${port}`,
    sdkConfig,
    defaultApiKey,
    requestLog,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error === undefined ? resolve() : reject(error))),
      );
    },
    makeClient: (apiKey = defaultApiKey, config = {}) =>
      new Stripe(apiKey, { ...sdkConfig, maxNetworkRetries: 0, telemetry: false, ...config }),
    seedPrice: (spec, apiKey) => {
      const price = makePrice(spec);
      accountFor(apiKey).prices.put(price);
      return price;
    },
    seedCustomer: (spec = {}, apiKey) => {
      const customer = makeCustomer(spec);
      accountFor(apiKey).customers.put(customer);
      return customer;
    },
    seedSubscription,
    seedSubscriptions: (subscriptions, apiKey) => {
      for (const subscription of subscriptions) seedSubscription(subscription, apiKey);
    },
    setSubscription: (subscription, apiKey) => accountFor(apiKey).subscriptions.put(subscription),
    deleteSubscription: (id, apiKey) => accountFor(apiKey).subscriptions.delete(id),
    subscriptions: (apiKey) => accountsFor(apiKey).flatMap((a) => a.subscriptions.values()),
    customers: (apiKey) => accountsFor(apiKey).flatMap((a) => a.customers.values()),
    checkoutSessions: (apiKey) => accountsFor(apiKey).flatMap((a) => a.checkoutSessions.values()),
    portalSessions: (apiKey) => accountsFor(apiKey).flatMap((a) => a.portalSessions.values()),
    prices: (apiKey) => accountsFor(apiKey).flatMap((a) => a.prices.values()),
    meterEvents: (apiKey) => accountsFor(apiKey).flatMap((a) => [...a.meterEvents.values()]),
    completeCheckoutSession: (id, completeOptions = {}) => {
      const account = accountFor(completeOptions.apiKey);
      const session = account.checkoutSessions.get(id);
      if (session === undefined) throw new Error(`fake Stripe: no checkout session ${id}`);
      if (session.status !== 'open')
        throw new Error(`fake Stripe: session ${id} is ${session.status}`);
      const now = completeOptions.now ?? nowSeconds();
      const email = completeOptions.customer_email ?? session.customer_email ?? 'buyer@example.com';
      const existing =
        typeof session.customer === 'string' ? account.customers.get(session.customer) : undefined;
      const customer = existing ?? makeCustomer({ email, created: now });
      account.customers.put(customer);
      const extras = account.sessionExtras.get(id);
      let subscription: Stripe.Subscription | null = null;
      const invoice = session.mode === 'subscription' ? stripeId('in_') : null;
      if (session.mode === 'subscription') {
        const trialDays = extras?.trialPeriodDays;
        subscription = makeSubscription({
          customer: customer.id,
          created: now,
          status: trialDays === undefined ? 'active' : 'trialing',
          trial_end: trialDays === undefined ? null : now + trialDays * 86_400,
          currency: session.currency ?? 'usd',
          metadata: extras?.subscriptionMetadata ?? {},
          latest_invoice: invoice,
          items: (extras?.lineItems ?? []).flatMap((line) =>
            line.price?.recurring == null
              ? []
              : [{ price: line.price, quantity: line.quantity ?? 1, created: now }],
          ),
        });
        account.subscriptions.put(subscription);
      }
      const completed: Stripe.Checkout.Session = {
        ...session,
        status: 'complete',
        payment_status: completeOptions.payment_status ?? 'paid',
        customer: customer.id,
        customer_details: {
          address: null,
          business_name: null,
          email: customer.email ?? email,
          individual_name: null,
          name: customer.name ?? null,
          phone: null,
          tax_exempt: 'none',
          tax_ids: [],
        },
        subscription: subscription?.id ?? null,
        invoice,
        payment_intent: session.mode === 'payment' ? stripeId('pi_') : null,
        url: null,
      };
      account.checkoutSessions.put(completed);
      return { session: completed, subscription, customer };
    },
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
      holds.push({ arrived, released });
      return { held, release };
    },
    clearRequestLog: () => {
      requestLog.length = 0;
    },
    reset: () => {
      accounts = new Map();
      requestLog.length = 0;
      failures.length = 0;
      holds.length = 0;
    },
  };
}
