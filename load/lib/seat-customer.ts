/**
 * What bench:watch and bench:local-fanout change by webhooks: a project with
 * a seat-priced catalog (`price_seats` gives `seats`, one per unit) and one
 * customer linked to a Stripe customer, and the signed
 * `customer.subscription.updated` events that give it a new seat count.
 */
import { CustomerStore } from '../../src/store/customer-store.js';
import { connectMongo } from '../../src/store/mongo.js';
import {
  makeEvent,
  makeSubscription,
  nowSeconds,
  signedWebhook,
} from '../../test/helpers/stripe-objects.js';
import { type SeededProject, seedProject } from './bench-project.js';

export interface SeatCustomer {
  readonly customerId: string;
  readonly stripeCustomerId: string;
  readonly subscriptionId: string;
  readonly webhookSecret: string;
}

export async function seedSeatProject(
  env: Record<string, string>,
  name: string,
  who: SeatCustomer,
): Promise<SeededProject> {
  const seeded = await seedProject(env, {
    name,
    stripeSecretKey: `sk_test_${name.replaceAll(' ', '_')}`,
    webhookSigningSecret: who.webhookSecret,
    catalog: [
      {
        stripe_id: 'price_seats',
        features: [{ feature: 'seats', limit: 1, limit_per_unit: true }],
      },
    ],
    grants: [],
  });
  const mongo = await connectMongo(env.MONGODB_URL ?? '', env.MONGODB_DATABASE ?? '');
  try {
    await new CustomerStore(mongo.db).link(
      seeded.projectId,
      who.customerId,
      who.stripeCustomerId,
      new Date(),
    );
  } finally {
    await mongo.client.close();
  }
  return seeded;
}

/**
 * Signed events of one run: the n-th (from 0) gives `quantity` seats and is
 * one second newer than the one before, all of them in the past.
 */
export function seatChanges(who: SeatCustomer, total: number) {
  const firstCreated = nowSeconds() - total - 60;
  const periodStart = nowSeconds() - 3600;
  return (n: number, quantity: number) =>
    signedWebhook(
      makeEvent({
        type: 'customer.subscription.updated',
        created: firstCreated + n,
        object: makeSubscription({
          id: who.subscriptionId,
          customer: who.stripeCustomerId,
          status: 'active',
          created: firstCreated - 86_400,
          current_period_start: periodStart,
          items: [{ price: 'price_seats', product: 'prod_seats', quantity }],
        }),
      }),
      who.webhookSecret,
    );
}
