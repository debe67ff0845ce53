/**
 * Customers with an active monthly subscription, written straight into
 * MongoDB in the service's own document shapes (src/store/documents.ts), in
 * bulk: a benchmark that needs many customers should not wait for as many
 * webhooks. Customer n is `mem-customer-n` with Stripe customer
 * `cus_mem_n` and subscription `sub_mem_n`.
 */
import type { Db } from 'mongodb';
import type { CustomerDoc, SubscriptionDoc } from '../../src/store/documents.js';

const batchSize = 1_000;
const day = 24 * 3600 * 1000;

export async function seedSubscribedCustomers(
  db: Db,
  projectId: string,
  priceId: string,
  count: number,
): Promise<void> {
  const now = new Date();
  for (let from = 0; from < count; from += batchSize) {
    const ns = Array.from({ length: Math.min(batchSize, count - from) }, (_, i) => from + i);
    await db.collection<CustomerDoc>('customers').insertMany(
      ns.map((n) => ({
        _id: `${projectId}:mem-customer-${n}`,
        project_id: projectId,
        customer_id: `mem-customer-${n}`,
        stripe_customer_id: `cus_mem_${n}`,
        created_at: now,
      })),
    );
    await db
      .collection<SubscriptionDoc>('subscriptions')
      .insertMany(ns.map((n) => subscription(projectId, priceId, n, now)));
  }
}

function subscription(projectId: string, priceId: string, n: number, now: Date): SubscriptionDoc {
  const eventCreated = Math.floor(now.getTime() / 1000);
  return {
    _id: `${projectId}:sub_mem_${n}:${eventCreated}`,
    project_id: projectId,
    stripe_subscription_id: `sub_mem_${n}`,
    stripe_customer_id: `cus_mem_${n}`,
    status: 'active',
    items: [
      {
        id: `si_mem_${n}`,
        price_id: priceId,
        product_id: 'prod_mem_pro',
        quantity: 3,
        current_period_start: new Date(now.getTime() - 10 * day),
        current_period_end: new Date(now.getTime() + 20 * day),
        unit_amount: 2000,
        currency: 'usd',
        interval: 'month',
        interval_count: 1,
      },
    ],
    cancel_at_period_end: false,
    cancel_at: null,
    canceled_at: null,
    ended_at: null,
    trial_end: null,
    currency: 'usd',
    created: new Date(now.getTime() - 10 * day),
    event_created: eventCreated,
    fetched_from_stripe: false,
    updated_at: now,
  };
}
