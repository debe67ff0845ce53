/**
 * The local side of a reconciliation walk: the current stored version of
 * each of the project's subscriptions, summarised (stamp, customer, status,
 * a fingerprint of the state drift is judged on), read in batches. A
 * summary is a few hundred bytes where the version is kilobytes, so a walk
 * of 100,000 subscriptions holds tens of megabytes, not hundreds; the
 * versions themselves are never all in memory at once.
 */
import type { StoredStateSummary } from '../domain/reconciliation-drift.js';
import {
  isNewerVersion,
  stateFingerprint,
  type VersionStamp,
} from '../domain/subscription-versions.js';
import type { SubscriptionDoc } from '../store/documents.js';
import { type SubscriptionStore, versionStamp } from '../store/subscription-store.js';

/** Stored versions read per batch. */
const localBatchSize = 1_000;

/** What the walk holds of a subscription's current stored version. */
export interface LocalSummary extends StoredStateSummary {
  readonly subscriptionId: string;
  readonly stripeCustomerId: string;
  readonly stamp: VersionStamp;
}

export function summaryOf(doc: SubscriptionDoc): LocalSummary {
  return {
    subscriptionId: doc.stripe_subscription_id,
    stripeCustomerId: doc.stripe_customer_id,
    stamp: versionStamp(doc),
    status: doc.status,
    fingerprint: stateFingerprint(doc),
  };
}

/** The summary of each subscription's newest version, by subscription id; `heartbeat` after each batch. */
export async function summariseLocal(
  subscriptions: Pick<SubscriptionStore, 'forEachFullVersionOfProject'>,
  projectId: string,
  heartbeat: () => Promise<void>,
): Promise<Map<string, LocalSummary>> {
  const local = new Map<string, LocalSummary>();
  await subscriptions.forEachFullVersionOfProject(projectId, localBatchSize, async (versions) => {
    for (const doc of versions) {
      const seen = local.get(doc.stripe_subscription_id);
      if (!seen || isNewerVersion(versionStamp(doc), seen.stamp))
        local.set(doc.stripe_subscription_id, summaryOf(doc));
    }
    await heartbeat();
  });
  return local;
}
