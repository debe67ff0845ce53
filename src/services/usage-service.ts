/**
 * TrackUsage and reservations: records usage of a metered feature in the
 * period it occurred in, once per idempotency key, durably in the ledger
 * (MongoDB). With `enforce` under block, a usage the balance does not cover
 * is refused and nothing is recorded, exactly also under concurrency across
 * replicas (the ledger serialises a chain's writers on its unique `_id`).
 * Reserve, commit and release go through ReservationService on the same
 * chain.
 *
 * Afterwards the customer's cached entitlements are invalidated, so checks
 * and WatchEntitlements on every replica see the new balance (on other
 * replicas within the usage coalescing window).
 */

import {
  type Entitlement,
  type EntitlementInputs,
  entitlementFor,
} from '../domain/entitlements.js';
import { FailedPreconditionError, InvalidInputError } from '../domain/errors.js';
import { periodOf } from '../domain/usage-balance.js';
import { planUsage } from '../domain/usage-plans.js';
import { stateFromDoc } from '../store/usage-chain-docs.js';
import type { UsageChain, UsageLedgerStore } from '../store/usage-ledger-store.js';
import type { EntitlementChangeNotifier } from './entitlement-change-notifier.js';
import type { EntitlementLookupService } from './entitlement-lookup-service.js';
import { withChainState } from './metered-standings.js';
import { meteredTermsOf } from './metered-terms.js';
import type { ReservationService } from './reservation-service.js';
import { newOperationId } from './usage-once.js';

export interface UsageServiceDeps {
  readonly lookup: Pick<EntitlementLookupService, 'inputsFor' | 'computeFrom'>;
  readonly ledger: Pick<UsageLedgerStore, 'append'>;
  readonly reservations: Pick<ReservationService, 'hold' | 'find' | 'commit' | 'release'>;
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

export interface ReserveUsageInput {
  readonly projectId: string;
  readonly customerId: string;
  readonly feature: string;
  readonly amount: number;
  readonly ttlMs: number;
  readonly idempotencyKey: string;
}

export interface ReservedUsage {
  readonly reservationId: string;
  readonly expiresAt: Date;
  readonly entitlement: Entitlement;
}

export interface ReservationRef {
  readonly projectId: string;
  readonly customerId: string;
  readonly reservationId: string;
}

export interface CommitReservationInput extends ReservationRef {
  /** Absent: the amount held. */
  readonly finalAmount: number | undefined;
}

export class UsageService {
  private readonly now: () => Date;

  constructor(private readonly deps: UsageServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async track(input: TrackUsageInput): Promise<TrackedUsage> {
    const inputs = await this.deps.lookup.inputsFor(input.projectId, input.customerId, this.now());
    const { entitlement, allowance, terms } = meteredTermsOf(inputs, input.feature);
    const occurredAt = input.occurredAt ?? inputs.now;
    const periodEnd = periodOf(allowance, occurredAt).end;
    const chain = chainOf(input);
    const refuseOverage = input.enforce && allowance.rules.overage === 'block';
    const usageId = newOperationId('usg');
    const request = fingerprintOf(input);
    // One insert appends the usage and applies the key once (the ledger's once key).
    const outcome = await this.deps.ledger.append(
      chain,
      {
        kind: 'usage',
        opId: usageId,
        usageId,
        reservationId: null,
        idempotencyKey: input.idempotencyKey,
        occurredAt,
        onceKey: trackOnceKey(input.projectId, input.idempotencyKey),
        request,
      },
      (state) => planUsage(state, terms, { periodEnd, amount: input.amount, refuseOverage }),
    );
    if (outcome.kind === 'refused') {
      throw new FailedPreconditionError(
        `the balance of ${input.feature} is ${outcome.balance}, less than the amount ${input.amount}; nothing was recorded`,
      );
    }
    const applied = outcome.entry;
    if (outcome.repeated && applied.request !== request) {
      throw new InvalidInputError('idempotency_key was used for another usage', {
        field: 'idempotency_key',
      });
    }
    const appliedId = applied.usage_id ?? usageId;
    await this.recorded(chain, appliedId, applied.amount, applied.occurred_at);
    if (outcome.repeated)
      return { usageId: appliedId, entitlement: await this.changed(inputs, chain) };
    await this.announce(chain.projectId, chain.customerId);
    // The entry just written holds the chain's state: the answer needs no read.
    return {
      usageId: appliedId,
      entitlement: withChainState(entitlement, inputs, stateFromDoc(applied.state)),
    };
  }

  /** Holds `amount` in the current period when the balance covers it (always under allow). */
  async reserve(input: ReserveUsageInput): Promise<ReservedUsage> {
    const inputs = await this.deps.lookup.inputsFor(input.projectId, input.customerId, this.now());
    const { allowance, terms } = meteredTermsOf(inputs, input.feature);
    const chain = chainOf(input);
    const held = await this.deps.reservations.hold({
      chain,
      terms,
      amount: input.amount,
      periodEnd: periodOf(allowance, inputs.now).end,
      expiresAt: new Date(inputs.now.getTime() + input.ttlMs),
      idempotencyKey: input.idempotencyKey,
      refuseOverage: allowance.rules.overage === 'block',
      fingerprint: JSON.stringify([
        'reserve',
        input.customerId,
        input.feature,
        input.amount,
        input.ttlMs,
      ]),
    });
    return { ...held, entitlement: await this.changed(inputs, chain) };
  }

  /** Records the final amount (at most what was held) in the reservation's period. */
  async commit(input: CommitReservationInput): Promise<TrackedUsage> {
    const doc = await this.deps.reservations.find(
      input.projectId,
      input.customerId,
      input.reservationId,
    );
    const finalAmount = input.finalAmount ?? doc.amount;
    if (finalAmount > doc.amount) {
      throw new InvalidInputError(`final_amount must be at most the amount held, ${doc.amount}`, {
        field: 'final_amount',
      });
    }
    const chain = chainOf({ ...input, feature: doc.feature });
    const inputs = await this.deps.lookup.inputsFor(input.projectId, input.customerId, this.now());
    const { terms } = meteredTermsOf(inputs, doc.feature);
    const usageId = await this.deps.reservations.commit(doc, terms, finalAmount);
    if (finalAmount > 0) await this.recorded(chain, usageId, finalAmount, doc.created_at);
    return {
      usageId: finalAmount > 0 ? usageId : '',
      entitlement: await this.changed(inputs, chain),
    };
  }

  /** Gives the held amount back; a reservation already released or expired stays so. */
  async release(input: ReservationRef): Promise<Entitlement> {
    const doc = await this.deps.reservations.find(
      input.projectId,
      input.customerId,
      input.reservationId,
    );
    const inputs = await this.deps.lookup.inputsFor(input.projectId, input.customerId, this.now());
    const { terms } = meteredTermsOf(inputs, doc.feature);
    await this.deps.reservations.release(doc, terms);
    return this.changed(inputs, chainOf({ ...input, feature: doc.feature }));
  }

  private async recorded(
    chain: UsageChain,
    usageId: string,
    amount: number,
    occurredAt: Date,
  ): Promise<void> {
    await this.deps.recorded?.recorded({ ...chain, usageId, amount, occurredAt });
  }

  /** Tells every replica, then answers the feature's standing now. */
  private async changed(inputs: EntitlementInputs, chain: UsageChain): Promise<Entitlement> {
    await this.announce(chain.projectId, chain.customerId);
    // The inputs loaded before still hold: only the ledger changed, and it is read again.
    const after = await this.deps.lookup.computeFrom(inputs, chain.projectId, chain.customerId);
    return entitlementFor(after, chain.feature);
  }

  /** The one place usage tells of a customer's change (checks, streams, caches). */
  private async announce(projectId: string, customerId: string): Promise<void> {
    await this.deps.changes.usageChanged(projectId, customerId);
  }
}

/** TrackUsage keys live beside the ledger's other once keys; a project's are its own. */
function trackOnceKey(projectId: string, idempotencyKey: string): string {
  return `track:${encodeURIComponent(projectId)}:${idempotencyKey}`;
}

function chainOf(input: {
  readonly projectId: string;
  readonly customerId: string;
  readonly feature: string;
}): UsageChain {
  return { projectId: input.projectId, customerId: input.customerId, feature: input.feature };
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
