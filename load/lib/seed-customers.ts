/**
 * Customers with a subscription each, written straight into MongoDB as the
 * service stores them (the Stripe subscription through the service's own
 * mapping, the customer link and its ownership record), in bulk: a
 * benchmark that needs many customers should not wait for as many webhooks.
 */
import type { Db } from 'mongodb';
import type Stripe from 'stripe';
import type {
  CustomerDoc,
  StripeCustomerOwnershipDoc,
  SubscriptionDoc,
} from '../../src/store/documents.js';
import { subscriptionDoc } from '../../src/stripe/subscription-mapping.js';

/** Bulk insert batch: FerretDB-on-PostgreSQL binds parameters per document (65,535 at most). */
const batchSize = 1_000;

/** Who the n-th seeded customer is and what it subscribes to. */
export interface SeededCustomers {
  customerId(n: number): string;
  /** The n-th subscription; its `customer` is the Stripe customer the link names. */
  subscription(n: number): Stripe.Subscription;
  /** `created` (seconds) of the event the subscriptions are recorded as coming from. */
  readonly eventCreated: number;
}

/**
 * Customers `from` .. `to - 1` of `customers`, in batches. `subscriptionsOnly`
 * stores the subscriptions without the customer links and ownership records
 * (for a benchmark that reads only subscriptions: a third of the writes).
 */
export async function seedSubscribedCustomers(
  db: Db,
  projectId: string,
  customers: SeededCustomers,
  from: number,
  to: number,
  options: { readonly subscriptionsOnly?: boolean } = {},
): Promise<void> {
  const now = new Date();
  for (let start = from; start < to; start += batchSize) {
    const rows = Array.from({ length: Math.min(batchSize, to - start) }, (_, i) => {
      const subscription = customers.subscription(start + i);
      return { customerId: customers.customerId(start + i), subscription };
    });
    await db.collection<SubscriptionDoc>('subscriptions').insertMany(
      rows.map((r) => subscriptionDoc(projectId, r.subscription, customers.eventCreated, now)),
      { ordered: false },
    );
    if (options.subscriptionsOnly === true) continue;
    await db.collection<CustomerDoc>('customers').insertMany(
      rows.map((r) => ({
        _id: `${projectId}:${r.customerId}`,
        project_id: projectId,
        customer_id: r.customerId,
        stripe_customer_id: stripeCustomerOf(r.subscription),
        created_at: now,
      })),
      { ordered: false },
    );
    await db.collection<StripeCustomerOwnershipDoc>('stripe_customer_ownership').insertMany(
      rows.map((r) => ({
        _id: `${projectId}:${stripeCustomerOf(r.subscription)}`,
        project_id: projectId,
        stripe_customer_id: stripeCustomerOf(r.subscription),
        owned: true,
        decided_by: 'linked' as const,
        created_at: now,
      })),
      { ordered: false },
    );
  }
}

const stripeCustomerOf = (subscription: Stripe.Subscription): string =>
  typeof subscription.customer === 'string' ? subscription.customer : subscription.customer.id;
