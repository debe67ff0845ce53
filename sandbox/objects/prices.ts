/** Products and prices: create, retrieve, list (`product`, `active`, `lookup_keys`, `type`). */
import type Stripe from 'stripe';
import { invalid, noSuch } from '../api/errors.js';
import type { Params } from '../api/form.js';
import { LIST_PARAMS, listResponse } from '../api/paging.js';
import type { RequestContext } from './context.js';
import { type Interval, makePrice, stripeId } from './stripe-objects.js';

export function createProduct({ account, params, now }: RequestContext): Stripe.Product {
  params.allow(['id', 'name', 'description', 'active', 'metadata', 'expand', 'unit_label']);
  const id = params.string('id') ?? stripeId('prod_', 14);
  if (account.products.get(id) !== undefined) {
    throw invalid(`Product already exists.`, 'id', 'resource_already_exists');
  }
  const product = makeProduct({
    id,
    name: params.required('name'),
    description: params.string('description') ?? null,
    active: params.boolean('active') ?? true,
    metadata: params.metadata() ?? {},
    created: now,
  });
  account.products.put(product);
  return product;
}

interface ProductSpec {
  readonly id: string;
  readonly name: string;
  readonly description: string | null;
  readonly active: boolean;
  readonly metadata: Stripe.Metadata;
  readonly created: number;
}

/** A `Stripe.Product` (fixture `resources.product`). */
export function makeProduct(spec: ProductSpec): Stripe.Product {
  return {
    id: spec.id,
    object: 'product',
    active: spec.active,
    created: spec.created,
    default_price: null,
    description: spec.description,
    images: [],
    livemode: false,
    marketing_features: [],
    metadata: spec.metadata,
    name: spec.name,
    package_dimensions: null,
    shippable: null,
    statement_descriptor: null,
    tax_code: null,
    tax_details: null,
    type: 'service',
    unit_label: null,
    updated: spec.created,
    url: null,
  };
}

export function retrieveProduct({ account, params, id }: RequestContext): Stripe.Product {
  params.allow(['expand']);
  const product = account.products.get(id);
  if (product === undefined) throw noSuch('product', id, 'id', 404);
  return product;
}

export function listProducts({ account, params }: RequestContext): Stripe.ApiList<Stripe.Product> {
  params.allow([...LIST_PARAMS, 'active', 'ids', 'created', 'shippable', 'url']);
  const active = params.boolean('active');
  const ids = params.strings('ids');
  return listResponse(
    account.products,
    params,
    '/v1/products',
    'product',
    (product) =>
      (active === undefined || product.active === active) &&
      (ids.length === 0 || ids.includes(product.id)),
  );
}

export function createPrice(context: RequestContext): Stripe.Price {
  const { account, params, now } = context;
  params.allow([
    'product',
    'product_data',
    'currency',
    'unit_amount',
    'recurring',
    'lookup_key',
    'nickname',
    'metadata',
    'active',
    'expand',
    'tax_behavior',
    'transfer_lookup_key',
  ]);
  const product = priceProduct(context);
  const lookupKey = params.string('lookup_key');
  if (lookupKey !== undefined) releaseLookupKey(context, lookupKey);
  const recurring = params.object('recurring');
  recurring?.allow(['interval', 'interval_count', 'usage_type', 'meter', 'trial_period_days']);
  const interval = recurring?.enumValue('interval', ['day', 'week', 'month', 'year'] as const);
  if (recurring !== undefined && interval === undefined) {
    throw invalid('Missing required param: recurring[interval].', 'recurring[interval]');
  }
  const price = makePrice({
    product,
    currency: params.required('currency').toLowerCase(),
    unit_amount: params.integer('unit_amount', 0) ?? 0,
    recurring: recurringSpec(recurring, interval),
    active: params.boolean('active') ?? true,
    created: now,
    nickname: params.string('nickname') ?? null,
    lookup_key: lookupKey ?? null,
    metadata: params.metadata() ?? {},
  });
  const meter = recurring?.string('meter');
  const usageType = recurring?.enumValue('usage_type', ['licensed', 'metered'] as const);
  if (price.recurring !== null && usageType !== undefined) {
    price.recurring = { ...price.recurring, usage_type: usageType, meter: meter ?? null };
  }
  account.prices.put(price);
  return price;
}

function recurringSpec(
  recurring: Params | undefined,
  interval: Interval | undefined,
): { interval: Interval; interval_count: number; trial_period_days: number | null } | null {
  if (recurring === undefined || interval === undefined) return null;
  return {
    interval,
    interval_count: recurring.integer('interval_count', 1, 365) ?? 1,
    trial_period_days: recurring.integer('trial_period_days', 1, 730) ?? null,
  };
}

/** The price's product: an existing one (`product`) or a new one (`product_data`). */
function priceProduct({ account, params, now }: RequestContext): string {
  const productId = params.string('product');
  if (productId !== undefined) {
    if (account.products.get(productId) === undefined) noProduct(productId);
    return productId;
  }
  const data = params.object('product_data');
  if (data === undefined) throw invalid('Missing required param: product.', 'product');
  data.allow(['name', 'id', 'metadata', 'active', 'unit_label']);
  const product = makeProduct({
    id: data.string('id') ?? stripeId('prod_', 14),
    name: data.required('name'),
    description: null,
    active: data.boolean('active') ?? true,
    metadata: data.metadata() ?? {},
    created: now,
  });
  account.products.put(product);
  return product.id;
}

function noProduct(id: string): never {
  throw noSuch('product', id, 'product');
}

/** Stripe refuses a taken lookup key unless `transfer_lookup_key` moves it. */
function releaseLookupKey({ account, params }: RequestContext, lookupKey: string): void {
  const holder = account.prices.values().find((price) => price.lookup_key === lookupKey);
  if (holder === undefined) return;
  if (params.boolean('transfer_lookup_key') !== true) {
    throw invalid(
      `A price (\`${holder.id}\`) already uses that lookup key.`,
      'lookup_key',
      'lookup_key_already_exists',
    );
  }
  account.prices.put({ ...holder, lookup_key: null });
}

export function retrievePrice({ account, params, id }: RequestContext): Stripe.Price {
  params.allow(['expand']);
  const price = account.prices.get(id);
  if (price === undefined) throw noSuch('price', id, 'price', 404);
  return price;
}

export function listPrices({ account, params }: RequestContext): Stripe.ApiList<Stripe.Price> {
  params.allow([...LIST_PARAMS, 'active', 'product', 'lookup_keys', 'type', 'currency', 'created']);
  const active = params.boolean('active');
  const product = params.string('product');
  const lookupKeys = params.strings('lookup_keys');
  const type = params.enumValue('type', ['one_time', 'recurring'] as const);
  return listResponse(
    account.prices,
    params,
    '/v1/prices',
    'price',
    (price) =>
      (active === undefined || price.active === active) &&
      (product === undefined || price.product === product) &&
      (lookupKeys.length === 0 || lookupKeys.includes(price.lookup_key ?? '')) &&
      (type === undefined || price.type === type),
  );
}
