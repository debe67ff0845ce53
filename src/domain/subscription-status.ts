/**
 * Stripe's subscription statuses that end a subscription for good. Pure.
 * The same set is what Stripe's own list filter `status: 'ended'` returns.
 */

/** Ended before it ever started: the first payment never went through. */
export const neverStartedStatus = 'incomplete_expired';

/** Terminal: nothing changes a subscription in one of these statuses again. */
export const endedStatuses: ReadonlySet<string> = new Set(['canceled', neverStartedStatus]);

export function isEnded(status: string): boolean {
  return endedStatuses.has(status);
}
