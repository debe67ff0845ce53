/** Builders for the pure subscription rules' tests (src/domain/subscription-*.ts, reconciliation-drift.ts). */
import type { SubscriptionState } from '../../src/domain/subscription-versions.js';

/** Every status Stripe gives a subscription. */
export const stripeSubscriptionStatuses = [
  'active',
  'trialing',
  'past_due',
  'unpaid',
  'paused',
  'incomplete',
  'incomplete_expired',
  'canceled',
] as const;

/** An active one-item subscription as stored, with `overrides`. */
export function subscriptionState(overrides: Partial<SubscriptionState> = {}): SubscriptionState {
  return {
    status: 'active',
    stripe_customer_id: 'cus_1',
    items: [{ id: 'si_1', price_id: 'price_team', quantity: 3 }],
    cancel_at_period_end: false,
    cancel_at: null,
    canceled_at: null,
    ended_at: null,
    trial_end: null,
    ...overrides,
  };
}
