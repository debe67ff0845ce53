/**
 * The Stripe walk of one reconciliation run: every subscription Stripe
 * lists for the project against MongoDB's current versions, each classified
 * (domain/reconciliation-drift.ts) and, unless it is a dry run, repaired;
 * the caches are told page by page exactly as a webhook would tell them.
 *
 * It streams Stripe: `subscriptions.list` with auto-pagination, 100 a page,
 * `status: 'all'`, one page in memory at a time. MongoDB's versions of the
 * project are read in batches first, and of each subscription only a
 * summary of its current version is held (stamp, customer, status and a
 * fingerprint of the state drift is judged on, domain/reconciliation-drift.ts
 * `classifyDriftOfSummary`): a few hundred bytes a subscription instead of
 * the whole version. The few judged missing in Stripe are read again whole
 * to be repaired. A subscription that MongoDB
 * has and Stripe does not is recorded as `canceled` (never deleted:
 * versions are history, and a canceled subscription gives no entitlement
 * and no MRR).
 */
import type Stripe from 'stripe';
import {
  classifyDrift,
  classifyDriftOfSummary,
  isImplausiblyEmpty,
  repairVersionTime,
} from '../domain/reconciliation-drift.js';
import type { DriftClass } from '../domain/records.js';
import { ownershipByMarker } from '../domain/stripe-ownership.js';
import { isNewerVersion } from '../domain/subscription-versions.js';
import type { TimelineCause } from '../domain/timeline.js';
import type { Logger } from '../logger.js';
import type { ReconciliationRunDoc, SubscriptionDoc } from '../store/documents.js';
import { zeroCounts } from '../store/reconciliation-run-store.js';
import { type SubscriptionStore, versionStamp } from '../store/subscription-store.js';
import { subscriptionDoc } from '../stripe/subscription-mapping.js';
import { type LocalSummary, summariseLocal, summaryOf } from './reconciliation-local.js';
import { LostLockError } from './reconciliation-lock.js';

export interface DriftObserver {
  onDrift(projectId: string, driftClass: DriftClass, dryRun: boolean): void;
}

export interface ReconciliationWalkDeps {
  readonly subscriptions: SubscriptionStore;
  /** Which Stripe customers are the project's, as recorded when it created or linked them. */
  readonly customers: {
    ownsStripeCustomer(projectId: string, stripeCustomerId: string): Promise<boolean | undefined>;
  };
  /** A Stripe client used by this run only (its `request` events count list calls). */
  /**
   * A client of the walk's own; `onAnswered` hears of every request Stripe
   * answered (any status, each attempt), which the run counts as its calls.
   */
  readonly stripeFor: (secretKey: string, onAnswered: (method: string) => void) => Stripe;
  readonly notifier: {
    stripeCustomersChanged(
      projectId: string,
      ids: Iterable<string>,
      cause: TimelineCause,
    ): Promise<void>;
    /** The run compared every subscription: figures kept over them are rebuilt. */
    subscriptionsReconciled(projectId: string): Promise<void>;
  };
  readonly observer?: DriftObserver;
  readonly now: () => Date;
}

export interface WalkTools {
  /** Renews the run's lease; throws once the lock is lost or the service stops. */
  readonly heartbeat: () => Promise<void>;
  readonly log: Logger;
  readonly signal: AbortSignal;
}

export interface WalkResult {
  readonly counts: ReconciliationRunDoc['counts'];
  readonly listCalls: number;
  readonly samples: ReconciliationRunDoc['drift_samples'];
  readonly error: string | null;
}

const pageSize = 100;
const maxSamplesPerClass = 100;

/** Walks the project's subscriptions in Stripe for `run`, which started at `startedAt`. */
export async function walkStripe(
  deps: ReconciliationWalkDeps,
  secretKey: string,
  run: ReconciliationRunDoc,
  startedAt: Date,
  tools: WalkTools,
): Promise<WalkResult> {
  return new StripeWalk(deps, run, repairVersionTime(startedAt), tools).walk(secretKey);
}

/** A run that could not walk at all. */
export function failedWalk(error: string): WalkResult {
  return { counts: zeroCounts(), listCalls: 0, samples: emptyDriftSamples(), error };
}

export function emptyDriftSamples(): ReconciliationRunDoc['drift_samples'] {
  return { missing_locally: [], stale: [], missing_in_stripe: [] };
}

class StripeWalk {
  private readonly counts = zeroCounts();
  private readonly samples = emptyDriftSamples();
  /** Stripe customers whose entitlements changed since the caches were last told. */
  private readonly changed = new Set<string>();
  private listCalls = 0;

  constructor(
    private readonly deps: ReconciliationWalkDeps,
    private readonly run: ReconciliationRunDoc,
    private readonly versionTime: number,
    private readonly tools: WalkTools,
  ) {}

  async walk(secretKey: string): Promise<WalkResult> {
    const stripe = this.deps.stripeFor(secretKey, (method) => {
      if (method === 'GET') this.listCalls += 1;
    });
    try {
      const local = await summariseLocal(
        this.deps.subscriptions,
        this.run.project_id,
        this.tools.heartbeat,
      );
      await this.tools.heartbeat();
      await this.compareListed(stripe, local);
      // What is left was not listed by Stripe.
      const error = await this.compareUnlisted([...local.values()]);
      if (!this.run.dry_run) await this.deps.notifier.subscriptionsReconciled(this.run.project_id);
      return this.result(error);
    } catch (err) {
      if (err instanceof LostLockError || this.tools.signal.aborted) throw err;
      await this.flush().catch((error: unknown) =>
        this.tools.log.warn('reconciliation progress not saved after a failure', { error }),
      );
      this.tools.log.warn('reconciliation failed', { error: err });
      return this.result(describe(err));
    } finally {
    }
  }

  /** Every subscription Stripe lists that is the project's; removes each from `local`. */
  private async compareListed(stripe: Stripe, local: Map<string, LocalSummary>) {
    const seen = new Set<string>();
    for await (const subscription of stripe.subscriptions.list({
      limit: pageSize,
      status: 'all',
      // The customer's metadata tells whose subscription it is: no call per object.
      expand: ['data.customer'],
    })) {
      if (seen.has(subscription.id)) continue;
      seen.add(subscription.id);
      const current = local.get(subscription.id);
      // Another project's subscription on a shared Stripe account: not ours to count or repair.
      if (!current && !(await this.isProjects(subscription))) continue;
      this.counts.checked += 1;
      local.delete(subscription.id);
      const projectId = this.run.project_id;
      const fresh = subscriptionDoc(
        projectId,
        subscription,
        this.versionTime,
        this.deps.now(),
        true,
      );
      const verdict = classifyDriftOfSummary(fresh, current);
      if (verdict === 'missing_locally' || verdict === 'stale') {
        this.drift(verdict, subscription.id);
        await this.repair(fresh, current);
      }
      if (this.counts.checked % pageSize === 0) await this.endOfPage();
    }
    await this.endOfPage();
  }

  /** Stored subscriptions Stripe did not list. Returns the run's error, if any. */
  private async compareUnlisted(unlisted: readonly LocalSummary[]): Promise<string | null> {
    const missing = unlisted.filter(
      (summary) => classifyDriftOfSummary(undefined, summary) === 'missing_in_stripe',
    );
    const implausible = isImplausiblyEmpty(this.counts.checked, missing.length);
    for (const [index, summary] of missing.entries()) {
      this.drift('missing_in_stripe', summary.subscriptionId);
      if (!implausible) await this.cancelMissing(summary);
      if ((index + 1) % pageSize === 0) await this.endOfPage();
    }
    await this.flush();
    return implausible
      ? `Stripe listed no subscriptions while ${missing.length} are live locally; nothing was canceled (check the project's Stripe key)`
      : null;
  }

  private drift(driftClass: DriftClass, subscriptionId: string): void {
    this.counts[driftClass] += 1;
    const samples = this.samples[driftClass];
    if (samples.length < maxSamplesPerClass) samples.push(subscriptionId);
    this.deps.observer?.onDrift(this.run.project_id, driftClass, this.run.dry_run);
  }

  /** Records the canceled version of a subscription Stripe does not list, from its whole stored version. */
  private async cancelMissing(summary: LocalSummary): Promise<void> {
    if (this.run.dry_run) return;
    const current = await this.deps.subscriptions
      .current(this.run.project_id, summary.subscriptionId)
      .catch((err: unknown) => {
        this.counts.errors += 1;
        this.tools.log.warn('reconciliation repair failed', {
          subscription_id: summary.subscriptionId,
          error: err,
        });
        return undefined;
      });
    // Gone, or ended by a webhook since the summary was made: nothing to cancel.
    if (!current || classifyDrift(undefined, current) !== 'missing_in_stripe') return;
    await this.repair(
      canceledVersion(current, this.versionTime, this.deps.now()),
      summaryOf(current),
    );
  }

  private async repair(fresh: SubscriptionDoc, current: LocalSummary | undefined) {
    if (this.run.dry_run) return;
    try {
      await this.deps.subscriptions.record(fresh);
      // Repaired only if it is now the newest version (a newer webhook may have come first).
      if (current && !isNewerVersion(versionStamp(fresh), current.stamp)) return;
      this.counts.repaired += 1;
      this.changed.add(fresh.stripe_customer_id);
      if (current) this.changed.add(current.stripeCustomerId);
    } catch (err) {
      this.counts.errors += 1;
      this.tools.log.warn('reconciliation repair failed', {
        subscription_id: fresh.stripe_subscription_id,
        error: err,
      });
    }
  }

  private async endOfPage(): Promise<void> {
    await this.flush();
    await this.tools.heartbeat();
  }

  /** Tells the caches which customers changed since the last flush. */
  private async flush(): Promise<void> {
    if (this.changed.size === 0) return;
    const ids = [...this.changed];
    this.changed.clear();
    await this.deps.notifier.stripeCustomersChanged(this.run.project_id, ids, {
      kind: 'reconciliation',
      runId: this.run._id,
    });
  }

  /**
   * Whether a listed subscription that MongoDB does not have is the
   * project's: by its customer's project marker, else as recorded when the
   * project created or linked that customer.
   */
  private async isProjects(subscription: Stripe.Subscription): Promise<boolean> {
    const projectId = this.run.project_id;
    const customer = subscription.customer;
    if (typeof customer !== 'string' && !customer.deleted) {
      const byMarker = ownershipByMarker(projectId, customer.metadata);
      if (byMarker !== 'unknown') return byMarker === 'ours';
    }
    const customerId = typeof customer === 'string' ? customer : customer.id;
    return (await this.deps.customers.ownsStripeCustomer(projectId, customerId)) === true;
  }

  private result(error: string | null): WalkResult {
    const { counts, listCalls, samples } = this;
    return { counts, listCalls, samples, error };
  }
}

/** The version recorded for a subscription Stripe does not know: ended, as of the run. */
function canceledVersion(
  current: SubscriptionDoc,
  versionTime: number,
  now: Date,
): SubscriptionDoc {
  const endedAt = new Date(versionTime * 1000);
  return {
    ...current,
    _id: `${current.project_id}:${current.stripe_subscription_id}:${versionTime}:stripe`,
    status: 'canceled',
    cancel_at_period_end: false,
    canceled_at: current.canceled_at ?? endedAt,
    ended_at: current.ended_at ?? endedAt,
    event_created: versionTime,
    fetched_from_stripe: true,
    updated_at: now,
  };
}

function describe(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.length > 500 ? `${message.slice(0, 500)}...` : message;
}
