/**
 * Three business days of a project's subscriptions, for the figures over
 * time: signed webhooks while the sandbox's clock moves on a day at a time,
 * and the snapshot job's work run on the first two days (not the third).
 *
 * - day 1: a monthly 20.00 USD subscription starts (MRR usd 2000);
 * - day 2: a yearly 120.00 EUR one starts (MRR eur 1000, usd 2000);
 * - day 3: the USD one ends; no snapshot.
 */
import type { BillingHarness } from './billing-harness.js';
import { makeEvent, makeSubscription, type SubscriptionSpec } from './stripe-objects.js';

const daySeconds = 24 * 3600;

export interface ThreeDays {
  /** The first day, `YYYY-MM-DD` (UTC, business time); the third is today. */
  readonly firstDay: string;
}

export async function seedThreeDays(h: BillingHarness): Promise<ThreeDays> {
  const nowSeconds = () => Math.floor(h.now().getTime() / 1000);
  const firstDay = h.now().toISOString().slice(0, 10);
  const day1Created = nowSeconds();
  await postSubscription(h, { id: 'sub_day1', customer: 'cus_day1', created: day1Created });
  await h.server.app.dailyMetrics.takeSnapshots();
  h.fake.advance(daySeconds);
  await postSubscription(h, {
    id: 'sub_day2',
    customer: 'cus_day2',
    created: nowSeconds(),
    items: [{ price: 'price_eur_yearly', unit_amount: 12_000, currency: 'eur', interval: 'year' }],
  });
  await h.server.app.dailyMetrics.takeSnapshots();
  h.fake.advance(daySeconds);
  await postSubscription(
    h,
    {
      id: 'sub_day1',
      customer: 'cus_day1',
      status: 'canceled',
      created: day1Created,
      ended_at: nowSeconds(),
    },
    'deleted',
  );
  return { firstDay };
}

/** The subscription as a signed webhook, its customer marked as the project's in Stripe. */
async function postSubscription(
  h: BillingHarness,
  spec: SubscriptionSpec,
  type: 'created' | 'deleted' = 'created',
): Promise<void> {
  h.fake.seedCustomer(
    { id: spec.customer ?? '', metadata: { billing_project_id: h.project.projectId } },
    h.project.stripeSecretKey,
  );
  const answer = await h.post(
    makeEvent({
      type: `customer.subscription.${type}`,
      object: makeSubscription(spec),
      created: Math.floor(h.now().getTime() / 1000),
    }),
  );
  if (answer.status !== 200) throw new Error(`webhook answered ${answer.status}`);
}
