/**
 * TrackUsage: records usage of a metered feature in the period it occurred
 * in, once per idempotency key, durably in the ledger (MongoDB). With
 * `enforce`, a usage the balance does not cover is refused and nothing is
 * recorded, exactly also under concurrency across replicas (the ledger
 * serialises a bucket's writers on its unique `_id`).
 *
 * Afterwards the customer's cached entitlements are invalidated, so checks
 * and WatchEntitlements on every replica see the new balance (on other
 * replicas within the usage coalescing window).
 */

import type { MeteredRules } from '../domain/catalog.js';
import {
  computeEntitlements,
  type Entitlement,
  type EntitlementInputs,
  entitlementFor,
} from '../domain/entitlements.js';
import { FailedPreconditionError, NotFoundError } from '../domain/errors.js';
import {
  type MeteredAllowance,
  meteredAllowance,
  meteredKindOf,
  periodOf,
} from '../domain/usage-balance.js';
import { usageClaimId } from '../store/usage-claim-store.js';
import { bucketId, type UsageBucket, type UsageLedgerStore } from '../store/usage-ledger-store.js';
import type { EntitlementChangeNotifier } from './entitlement-change-notifier.js';
import type { EntitlementLookupService } from './entitlement-lookup-service.js';
import type { UsageOnce } from './usage-once.js';

export interface UsageServiceDeps {
  readonly lookup: Pick<EntitlementLookupService, 'loadInputs' | 'computeFrom'>;
  readonly ledger: Pick<UsageLedgerStore, 'append'>;
  readonly once: Pick<UsageOnce, 'apply'>;
  readonly changes: Pick<EntitlementChangeNotifier, 'usageChanged'>;
  /** Told of every applied usage, also again on a retry (Stripe meter reports); absent: nobody. */
  readonly recorded?: RecordedUsageSink;
  readonly now?: () => Date;
}

/** A usage the ledger holds. */
export interface RecordedUsage {
  readonly projectId: string;
  readonly customerId: string;
  readonly feature: string;
  readonly usageId: string;
  readonly amount: number;
  readonly occurredAt: Date;
}

/**
 * Where recorded usage goes next. Called after the ledger holds the usage
 * and before it is acknowledged, again for every retry of the same key, so
 * an implementation must be idempotent on `usageId`.
 */
export interface RecordedUsageSink {
  recorded(usage: RecordedUsage): Promise<void>;
}

export interface TrackUsageInput {
  readonly projectId: string;
  readonly customerId: string;
  readonly feature: string;
  readonly amount: number;
  readonly idempotencyKey: string;
  /** Absent: now. */
  readonly occurredAt: Date | undefined;
  readonly enforce: boolean;
}

export interface TrackedUsage {
  readonly usageId: string;
  /** The feature's standing after the usage. */
  readonly entitlement: Entitlement;
}

export class UsageService {
  private readonly now: () => Date;

  constructor(private readonly deps: UsageServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async track(input: TrackUsageInput): Promise<TrackedUsage> {
    const now = this.now();
    const inputs = await this.deps.lookup.loadInputs(input.projectId, input.customerId, now);
    const allowance = this.allowanceOf(inputs, input.feature);
    const occurredAt = input.occurredAt ?? now;
    const bucket: UsageBucket = {
      projectId: input.projectId,
      customerId: input.customerId,
      feature: input.feature,
      periodEnd: periodOf(allowance, occurredAt).end,
    };
    const limit = input.enforce ? allowance.allowance : null;
    const outcome = await this.deps.once.apply(
      {
        claimId: usageClaimId(input.projectId, input.idempotencyKey),
        projectId: input.projectId,
        idempotencyKey: input.idempotencyKey,
        fingerprint: fingerprintOf(input),
        bucket: bucketId(bucket),
      },
      (usageId) =>
        this.deps.ledger.append(
          bucket,
          { amount: input.amount, usageId, idempotencyKey: input.idempotencyKey, occurredAt },
          limit,
        ),
    );
    if (outcome.kind === 'refused') {
      const balance = Math.max(0, (allowance.allowance ?? 0) - outcome.total);
      throw new FailedPreconditionError(
        `the balance of ${input.feature} is ${balance}, less than the amount ${input.amount}; nothing was recorded`,
      );
    }
    await this.deps.recorded?.recorded({
      projectId: input.projectId,
      customerId: input.customerId,
      feature: input.feature,
      usageId: outcome.usageId,
      amount: input.amount,
      occurredAt,
    });
    await this.deps.changes.usageChanged(input.projectId, input.customerId);
    // The inputs loaded above still hold: only the ledger changed, and it is read again.
    const after = await this.deps.lookup.computeFrom(inputs, input.projectId, input.customerId);
    return { usageId: outcome.usageId, entitlement: entitlementFor(after, input.feature) };
  }

  /**
   * The feature must be metered in the catalog; a customer without any
   * source of it has an allowance of 0 (usage is still recorded unless
   * enforced), in calendar months.
   */
  private allowanceOf(inputs: EntitlementInputs, feature: string): MeteredAllowance {
    const kind = meteredKindOf(inputs.catalog, feature);
    if (kind.kind === 'unknown') throw new NotFoundError(`feature ${feature}`);
    if (kind.kind === 'not_metered') {
      throw new FailedPreconditionError(`feature ${feature} is not metered in the catalog`);
    }
    const entitlement = entitlementFor(computeEntitlements(inputs), feature);
    return meteredAllowance(entitlement, inputs) ?? noAllowance(kind.rules);
  }
}

function noAllowance(rules: MeteredRules): MeteredAllowance {
  return { rules, allowance: 0, billingPeriod: null };
}

/** A retry with the same key must ask for the same usage; an absent occurred_at is not compared. */
function fingerprintOf(input: TrackUsageInput): string {
  return JSON.stringify([
    input.customerId,
    input.feature,
    input.amount,
    input.enforce,
    input.occurredAt?.toISOString() ?? null,
  ]);
}
