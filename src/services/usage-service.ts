/**
 * TrackUsage and reservations: records usage of a metered feature in the
 * period it occurred in, once per idempotency key, durably in the ledger
 * (MongoDB). With `enforce` under block, a usage the balance does not cover
 * is refused and nothing is recorded, exactly also under concurrency across
 * replicas (the ledger serialises a chain's writers on its unique `_id`).
 * Reserve, commit and release go through ReservationService on the same
 * chain, one ledger insert each.
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
import type { ChainState } from '../domain/usage-allocation.js';
import { meteredFeaturesOf, periodOf } from '../domain/usage-balance.js';
import { trackOnceKey } from '../domain/usage-once-keys.js';
import { planUsage } from '../domain/usage-plans.js';
import { stateFromDoc } from '../store/usage-chain-docs.js';
import type { UsageChain, UsageLedgerStore } from '../store/usage-ledger-store.js';
import type { EntitlementChangeNotifier } from './entitlement-change-notifier.js';
import type { EntitlementLookupService } from './entitlement-lookup-service.js';
import { withChainState } from './metered-standings.js';
import { meteredTermsOf } from './metered-terms.js';
import type { OutboundEventService } from './outbound-event-service.js';
import type { HeldReservation, ReservationService } from './reservation-service.js';
import { newOperationId } from './usage-ids.js';

export interface UsageServiceDeps {
  readonly lookup: Pick<EntitlementLookupService, 'inputsFor' | 'computeFrom'>;
  readonly ledger: Pick<UsageLedgerStore, 'append'>;
  readonly reservations: Pick<ReservationService, 'hold' | 'find' | 'commit' | 'release'>;
  readonly changes: Pick<EntitlementChangeNotifier, 'usageChanged'>;
  /** Told of every applied usage, also again on a retry (Stripe meter reports); absent: nobody. */
  readonly recorded?: RecordedUsageSink;
  /** Told of every new usage with the standing after it (usage.threshold_reached); never rejects. */
  readonly thresholds?: Pick<OutboundEventService, 'usageRecorded'>;
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
    this.announce(chain.projectId, chain.customerId);
    // The entry just written holds the chain's state: the answer needs no read.
    const after = withChainState(entitlement, inputs, stateFromDoc(applied.state));
    await this.thresholds(chain, input.amount, allowance.allowance, periodEnd, after);
    return { usageId: appliedId, entitlement: after };
  }

  /** Holds `amount` in the current period when the balance covers it (always under allow). */
  async reserve(input: ReserveUsageInput): Promise<ReservedUsage> {
    const inputs = await this.deps.lookup.inputsFor(input.projectId, input.customerId, this.now());
    const { entitlement, allowance, terms } = meteredTermsOf(inputs, input.feature);
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
    return {
      reservationId: held.reservationId,
      expiresAt: held.expiresAt,
      entitlement: await this.answer(inputs, chain, entitlement, held.written),
    };
  }

  /**
   * Records the final amount (absent: the amount held) in the reservation's
   * period; more than held is refused under block and overage-counted
   * usage under allow.
   */
  async commit(input: CommitReservationInput): Promise<TrackedUsage> {
    const inputs = await this.deps.lookup.inputsFor(input.projectId, input.customerId, this.now());
    const reservation = await this.find(inputs, input);
    const finalAmount = input.finalAmount ?? reservation.amount;
    const { chain } = reservation;
    const { entitlement, allowance, terms } = meteredTermsOf(inputs, chain.feature);
    const committed = await this.deps.reservations.commit(reservation, {
      terms,
      finalAmount,
      refuseOverHeld: allowance.rules.overage === 'block',
    });
    if (committed.usageId !== '') {
      await this.recorded(chain, committed.usageId, finalAmount, reservation.createdAt);
    }
    const after = await this.answer(inputs, chain, entitlement, committed.written);
    if (committed.written) {
      await this.thresholds(chain, finalAmount, allowance.allowance, reservation.periodEnd, after);
    }
    return { usageId: committed.usageId, entitlement: after };
  }

  /** Gives the held amount back; a reservation already released or expired stays so. */
  async release(input: ReservationRef): Promise<Entitlement> {
    const inputs = await this.deps.lookup.inputsFor(input.projectId, input.customerId, this.now());
    const reservation = await this.find(inputs, input);
    const { terms } = meteredTermsOf(inputs, reservation.chain.feature);
    await this.deps.reservations.release(reservation, terms);
    return this.changed(inputs, reservation.chain);
  }

  /** The reservation's hold, by `_id` in the chain of the metered feature its id names. */
  private find(inputs: EntitlementInputs, ref: ReservationRef): Promise<HeldReservation> {
    return this.deps.reservations.find(
      ref.projectId,
      ref.customerId,
      ref.reservationId,
      meteredFeaturesOf(inputs.catalog),
    );
  }

  private async recorded(
    chain: UsageChain,
    usageId: string,
    amount: number,
    occurredAt: Date,
  ): Promise<void> {
    await this.deps.recorded?.recorded({ ...chain, usageId, amount, occurredAt });
  }

  /** A usage was written: the standing after it may have crossed a threshold of the allowance. */
  private async thresholds(
    chain: UsageChain,
    amount: number,
    allowance: number | null,
    periodEnd: Date,
    after: Entitlement,
  ): Promise<void> {
    const standing = after.metered;
    await this.deps.thresholds?.usageRecorded({
      ...chain,
      amount,
      allowance,
      periodEnd,
      standing: standing && {
        usage: standing.usage,
        balance: standing.balance,
        resetsAt: standing.resetsAt,
      },
    });
  }

  /**
   * Tells every replica, then answers the standing in the state this call
   * wrote (no read), or, for a retry that wrote nothing, as the ledger has it.
   */
  private async answer(
    inputs: EntitlementInputs,
    chain: UsageChain,
    entitlement: Entitlement,
    written: ChainState | null,
  ): Promise<Entitlement> {
    if (!written) return this.changed(inputs, chain);
    this.announce(chain.projectId, chain.customerId);
    return withChainState(entitlement, inputs, written);
  }

  /** Tells every replica, then answers the feature's standing now. */
  private async changed(inputs: EntitlementInputs, chain: UsageChain): Promise<Entitlement> {
    this.announce(chain.projectId, chain.customerId);
    // The inputs loaded before still hold: only the ledger changed, and it is read again.
    const after = await this.deps.lookup.computeFrom(inputs, chain.projectId, chain.customerId);
    return entitlementFor(after, chain.feature);
  }

  /** The one place usage tells of a customer's change (checks, streams, caches); never waits. */
  private announce(projectId: string, customerId: string): void {
    this.deps.changes.usageChanged(projectId, customerId);
  }
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
