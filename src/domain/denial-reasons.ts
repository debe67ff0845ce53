/**
 * Why a feature is not allowed, for the features the engine refuses. Pure.
 *
 * - unknown_feature: not in the project's catalog, and no grant gives it;
 * - no_source: known, but no subscription, purchase or grant gives it;
 * - past_grace: a subscription mapped to it is past_due beyond the grace;
 * - subscription_ended: a subscription mapped to it has ended (canceled,
 *   unpaid, expired trial, scheduled cancellation passed, ...).
 * When several apply, the one the customer can act on first wins:
 * past_grace (pay the invoice), then subscription_ended, then no_source.
 */
import type { Catalog } from './catalog.js';
import { isEnded } from './subscription-status.js';
import {
  type SubscriptionTiming,
  scheduledEnd,
  subscriptionValidity,
} from './subscription-validity.js';

export type DenialReasonName =
  | 'unknown_feature'
  | 'no_source'
  | 'past_grace'
  | 'subscription_ended';

/** A known feature's refusal; unknown features are not listed. */
export interface Denial {
  readonly feature: string;
  readonly reason: Exclude<DenialReasonName, 'unknown_feature'>;
}

/** What the reasons depend on (EntitlementInputs has all of it). */
export interface DenialInputs {
  readonly catalog: Catalog;
  readonly gracePeriodSeconds: number;
  readonly subscriptions: readonly (SubscriptionTiming & {
    readonly items: readonly { readonly priceId: string; readonly productId: string }[];
  })[];
  readonly grants: readonly { readonly feature: string }[];
  readonly now: Date;
}

const precedence: Record<Denial['reason'], number> = {
  no_source: 0,
  subscription_ended: 1,
  past_grace: 2,
};

/** Not terminal, but giving nothing until paid or resumed (paused: a trial ended unpaid). */
const stoppedStatuses: ReadonlySet<string> = new Set(['unpaid', 'paused']);

/** The known features not in `allowed`, each with its reason, sorted by feature. */
export function denialsOf(inputs: DenialInputs, allowed: ReadonlyMap<string, unknown>): Denial[] {
  const reasons = new Map<string, Denial['reason']>();
  const note = (feature: string, reason: Denial['reason']) => {
    if (allowed.has(feature)) return;
    const before = reasons.get(feature);
    if (before === undefined || precedence[reason] > precedence[before])
      reasons.set(feature, reason);
  };
  for (const features of inputs.catalog.values())
    for (const f of features) note(f.feature, 'no_source');
  for (const grant of inputs.grants) note(grant.feature, 'no_source');
  for (const subscription of inputs.subscriptions) {
    const reason = subscriptionRefusal(subscription, inputs.gracePeriodSeconds, inputs.now);
    if (!reason) continue;
    for (const item of subscription.items) {
      for (const catalogId of [item.priceId, item.productId]) {
        for (const f of inputs.catalog.get(catalogId) ?? []) note(f.feature, reason);
      }
    }
  }
  return [...reasons]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([feature, reason]) => ({ feature, reason }));
}

/** Why a subscription gives nothing now; undefined when it gives, or never started (incomplete). */
function subscriptionRefusal(
  subscription: SubscriptionTiming,
  gracePeriodSeconds: number,
  now: Date,
): Denial['reason'] | undefined {
  if (isEnded(subscription.status) || stoppedStatuses.has(subscription.status))
    return 'subscription_ended';
  if (subscriptionValidity(subscription, gracePeriodSeconds, now)) return undefined;
  const end = scheduledEnd(subscription);
  if (end && end.getTime() <= now.getTime()) return 'subscription_ended';
  return subscription.status === 'past_due' ? 'past_grace' : undefined;
}
