/**
 * Which of two recorded versions of a subscription is the current one, and
 * when two versions say the same thing. Pure.
 *
 * A version is stamped with the `created` second of the Stripe event that
 * showed it. Events of one second cannot be ordered by their timestamps, so
 * at equal seconds the version fetched from Stripe wins: it was asked for
 * to settle that second (two events disagreeing), or written by
 * reconciliation one second before its run began. A later event of that
 * second that disagrees again is settled by a later fetch, which wins over
 * the earlier ones (`fetchSeq`).
 */
import { createHash } from 'node:crypto';

export interface VersionStamp {
  /** `created` (Unix seconds) of the Stripe event that showed the version. */
  readonly eventCreated: number;
  /** Read from Stripe's API rather than from an event's payload. */
  readonly fetchedFromStripe: boolean;
  /** Among the fetched versions of one second, 1 for the first fetch, then 2, 3...; default 1. */
  readonly fetchSeq?: number;
}

/**
 * Whether `a` supersedes `b`: a later second, or the fetched version of the
 * same second, or of two fetched versions of a second the later fetch.
 */
export function isNewerVersion(a: VersionStamp, b: VersionStamp): boolean {
  if (a.eventCreated !== b.eventCreated) return a.eventCreated > b.eventCreated;
  if (a.fetchedFromStripe && b.fetchedFromStripe) return (a.fetchSeq ?? 1) > (b.fetchSeq ?? 1);
  return a.fetchedFromStripe && !b.fetchedFromStripe;
}

/** The fields that decide entitlements and metrics, as a stored version holds them. */
export interface SubscriptionState {
  readonly status: string;
  readonly stripe_customer_id: string;
  /** Compared as data: every field of every item counts. */
  readonly items: readonly object[];
  readonly cancel_at_period_end: boolean;
  readonly cancel_at: Date | null;
  readonly canceled_at: Date | null;
  readonly ended_at: Date | null;
  readonly trial_end: Date | null;
}

/** Equal means no change worth storing: no entitlement or figure can differ between them. */
export function sameSubscriptionState(a: SubscriptionState, b: SubscriptionState): boolean {
  return comparableState(a) === comparableState(b);
}

/**
 * A short fingerprint of what `sameSubscriptionState` compares: equal states
 * have equal fingerprints (and different ones, but for a SHA-256 collision,
 * different fingerprints), so a walk can hold it instead of the version.
 */
export function stateFingerprint(state: SubscriptionState): string {
  return createHash('sha256').update(comparableState(state)).digest('base64url');
}

function comparableState(state: SubscriptionState): string {
  return JSON.stringify([
    state.status,
    state.stripe_customer_id,
    state.items,
    state.cancel_at_period_end,
    state.cancel_at,
    state.canceled_at,
    state.ended_at,
    state.trial_end,
  ]);
}
