/**
 * How long a subscription gives its features, from Stripe's status and its
 * dates. Pure. Shared by the entitlement engine (entitlements.ts) and the
 * denial reasons (denial-reasons.ts).
 */

/** The parts of a subscription (SubscriptionFacts) its validity depends on. */
export interface SubscriptionTiming {
  /** Stripe's status: active, trialing, past_due, canceled, unpaid, incomplete, ... */
  readonly status: string;
  readonly items: readonly { readonly currentPeriodEnd: Date | null }[];
  readonly cancelAtPeriodEnd: boolean;
  readonly cancelAt: Date | null;
  readonly trialEnd: Date | null;
  readonly pastDueSince: Date | null;
}

/** The statuses that can give features; all others give none. */
const givingStatuses: ReadonlySet<string> = new Set(['active', 'trialing', 'past_due']);

/** Until when a subscription gives its features, or undefined when it gives none now. */
export function subscriptionValidity(
  subscription: SubscriptionTiming,
  gracePeriodSeconds: number,
  now: Date,
): { validUntil: Date | null } | undefined {
  if (!givingStatuses.has(subscription.status)) return undefined;
  const validUntil = earliest([
    scheduledEnd(subscription),
    subscription.status === 'past_due' ? graceEnd(subscription, gracePeriodSeconds, now) : null,
  ]);
  if (validUntil && validUntil.getTime() <= now.getTime()) return undefined;
  return { validUntil };
}

/**
 * When the subscription ends by itself whatever is paid: a scheduled
 * cancellation, the period end with cancel_at_period_end, a trial's end.
 */
export function scheduledEnd(subscription: SubscriptionTiming): Date | null {
  const periodEnd = latest(subscription.items.map((item) => item.currentPeriodEnd));
  return earliest([
    subscription.cancelAt,
    subscription.cancelAtPeriodEnd ? periodEnd : null,
    subscription.status === 'trialing' ? subscription.trialEnd : null,
  ]);
}

/**
 * Grace runs from when the payment failed, never from the period start.
 * Unknown (no version recorded it): no grace, rather than one that never ends.
 */
function graceEnd(subscription: SubscriptionTiming, gracePeriodSeconds: number, now: Date): Date {
  return subscription.pastDueSince
    ? new Date(subscription.pastDueSince.getTime() + gracePeriodSeconds * 1000)
    : now;
}

export function earliest(dates: readonly (Date | null)[]): Date | null {
  let found: Date | null = null;
  for (const date of dates) if (date && (!found || date.getTime() < found.getTime())) found = date;
  return found;
}

function latest(dates: readonly (Date | null)[]): Date | null {
  let found: Date | null = null;
  for (const date of dates) if (date && (!found || date.getTime() > found.getTime())) found = date;
  return found;
}
