/**
 * What the usage tests share: a catalog with metered features, a customer
 * subscribed by webhook, and a look at the ledger as MongoDB holds it.
 */
import { MongoClient } from 'mongodb';
import type { CatalogEntryDoc } from '../../src/store/documents.js';
import type { UsageEntryDoc } from '../../src/store/usage-ledger-store.js';
import { type BillingHarness, defaultCatalog } from '../helpers/billing-harness.js';
import { testMongoUrl } from '../helpers/services.js';
import { makeEvent, makeSubscription, nowSeconds } from '../helpers/stripe-objects.js';

/** `api_requests`: 100 per billing period, block. `ai_tokens`: 10 per seat, allow. */
export const usageCatalog: CatalogEntryDoc[] = [
  ...defaultCatalog,
  {
    stripe_id: 'price_metered',
    features: [
      {
        feature: 'api_requests',
        limit: null,
        limit_per_unit: false,
        kind: 'metered',
        metered: {
          allowance: 100,
          allowance_per_unit: false,
          reset: 'billing_period',
          overage: 'block',
          stripe_meter_event_name: null,
        },
      },
      {
        feature: 'ai_tokens',
        limit: null,
        limit_per_unit: false,
        kind: 'metered',
        metered: {
          allowance: 10,
          allowance_per_unit: true,
          reset: 'billing_period',
          overage: 'allow',
          stripe_meter_event_name: null,
        },
      },
    ],
  },
];

export interface PeriodSpec {
  readonly start: number;
  readonly end: number;
}

/** Links `customerId` and subscribes it to price_metered by webhook; answers the subscription id. */
export async function subscribeMetered(
  h: BillingHarness,
  customerId: string,
  options: { quantity?: number; period?: PeriodSpec; id?: string; created?: number } = {},
): Promise<string> {
  const customer = await h.linkCustomer(customerId);
  return postMeteredSubscription(h, customer, options);
}

export async function postMeteredSubscription(
  h: BillingHarness,
  customer: string,
  options: { quantity?: number; period?: PeriodSpec; id?: string; created?: number } = {},
  type:
    | 'customer.subscription.created'
    | 'customer.subscription.updated' = 'customer.subscription.created',
): Promise<string> {
  const sub = makeSubscription({
    ...(options.id === undefined ? {} : { id: options.id }),
    customer,
    status: 'active',
    items: [
      {
        id: 'si_metered',
        price: 'price_metered',
        product: 'prod_metered',
        quantity: options.quantity ?? 1,
        ...(options.period
          ? { current_period_start: options.period.start, current_period_end: options.period.end }
          : {}),
      },
    ],
  });
  const answer = await h.post(
    makeEvent({ type, object: sub, created: options.created ?? nowSeconds() }),
  );
  if (answer.status !== 200) throw new Error(`webhook answered ${answer.status}`);
  return sub.id;
}

/** The ledger entries of one customer, straight from MongoDB. */
export async function ledgerEntries(
  database: string,
  customerId: string,
): Promise<UsageEntryDoc[]> {
  const client = await MongoClient.connect(testMongoUrl());
  try {
    return await client
      .db(database)
      .collection<UsageEntryDoc>('usage_ledger')
      .find({ customer_id: customerId })
      .toArray();
  } finally {
    await client.close();
  }
}

export const sumOf = (entries: readonly { amount: number }[]) =>
  entries.reduce((sum, e) => sum + e.amount, 0);

/** The hold entries of one customer (a reservation is its hold entry). */
export async function holdEntries(database: string, customerId: string): Promise<UsageEntryDoc[]> {
  return (await ledgerEntries(database, customerId)).filter((e) => e.kind === 'hold');
}

/** `catalog` with each metered feature reported to a Stripe meter named like the feature. */
export function withMeters(catalog: readonly CatalogEntryDoc[]): CatalogEntryDoc[] {
  return catalog.map((entry) => ({
    ...entry,
    features: entry.features.map((f) =>
      f.metered ? { ...f, metered: { ...f.metered, stripe_meter_event_name: f.feature } } : f,
    ),
  }));
}
