/**
 * Reconciliation's rules: which drift a subscription shows between Stripe
 * and MongoDB, and how a repair is stamped. Pure.
 *
 * - Listed by Stripe, unknown locally: `missing_locally`.
 * - Listed, known, but in another state: `stale`.
 * - Known locally, not listed: `missing_in_stripe`, unless it already
 *   ended locally: an ended subscription gives nothing, so its absence is
 *   not drift.
 *
 * Repairs are ordinary subscription versions stamped one second before the
 * run started and marked fetched from Stripe (`repairVersionTime`):
 * - any event created after the run started is newer, so a webhook that
 *   arrives during or after the run still wins;
 * - events of earlier seconds were already in Stripe's answer (it was
 *   listed after they happened), and the fetched version wins a tie with an
 *   event of its own second (subscription-versions.ts `isNewerVersion`);
 * - stamping the run's own start second instead would let a listing made in
 *   that second beat a change made later in that same second.
 */
import type { DriftClass } from './records.js';
import { isEnded } from './subscription-status.js';
import {
  type SubscriptionState,
  sameSubscriptionState,
  stateFingerprint,
} from './subscription-versions.js';

/** A drift class (records.ts), or why there is none: the same on both sides, or ended and gone. */
export type DriftVerdict = DriftClass | 'in_sync' | 'ended';

/**
 * One subscription compared: `inStripe` as a version built from Stripe's
 * listing (undefined: not listed), `stored` its current stored version
 * (undefined: none).
 */
export function classifyDrift(
  inStripe: SubscriptionState | undefined,
  stored: SubscriptionState | undefined,
): DriftVerdict {
  return verdict(inStripe, stored?.status, (listed) =>
    stored === undefined ? false : sameSubscriptionState(listed, stored),
  );
}

/** What a walk holds of a stored version instead of the version (reconciliation-walk.ts). */
export interface StoredStateSummary {
  readonly status: string;
  /** `stateFingerprint` of the stored version. */
  readonly fingerprint: string;
}

/** `classifyDrift` against a summary of the stored version: the same verdicts. */
export function classifyDriftOfSummary(
  inStripe: SubscriptionState | undefined,
  stored: StoredStateSummary | undefined,
): DriftVerdict {
  return verdict(
    inStripe,
    stored?.status,
    (listed) => stateFingerprint(listed) === stored?.fingerprint,
  );
}

function verdict(
  inStripe: SubscriptionState | undefined,
  storedStatus: string | undefined,
  sameAsStored: (inStripe: SubscriptionState) => boolean,
): DriftVerdict {
  if (inStripe === undefined) {
    if (storedStatus === undefined) return 'in_sync';
    return isEnded(storedStatus) ? 'ended' : 'missing_in_stripe';
  }
  if (storedStatus === undefined) return 'missing_locally';
  return sameAsStored(inStripe) ? 'in_sync' : 'stale';
}

/** The event time (Unix seconds) of the versions a run started at `startedAt` records. */
export function repairVersionTime(startedAt: Date): number {
  return Math.floor(startedAt.getTime() / 1000) - 1;
}

/**
 * Stripe listed nothing while MongoDB has live subscriptions: most likely a
 * key of another Stripe account. Such a run reports the drift but cancels
 * nothing on that evidence.
 */
export function isImplausiblyEmpty(listedInStripe: number, missingInStripe: number): boolean {
  return listedInStripe === 0 && missingInStripe > 0;
}
