/**
 * Reservations on the usage ledger: a hold is an entry of the feature's
 * chain, decided together with usage on the chain's head (no overspend
 * across replicas), once per idempotency key (UsageOnce). A reservation
 * ends once: its commit or its release wins one claim per reservation, so
 * a second commit with the same final_amount answers the first and any
 * other ending is FAILED_PRECONDITION. A hold past its expiry counts as
 * released for every reader; nothing needs to run for that.
 *
 * UsageService calls it with the terms it loaded and does the rest
 * (notifications, meter reports, the standing after).
 */
import { FailedPreconditionError, NotFoundError } from '../domain/errors.js';
import type { ChainTerms } from '../domain/usage-allocation.js';
import { planCommit, planHold, planRelease } from '../domain/usage-plans.js';
import { reservationEndClaimId, usageClaimId } from '../store/usage-claim-store.js';
import {
  type AppendOutcome,
  chainId,
  type UsageChain,
  type UsageLedgerStore,
} from '../store/usage-ledger-store.js';
import type {
  UsageReservationDoc,
  UsageReservationStore,
} from '../store/usage-reservation-store.js';
import type { UsageOnce } from './usage-once.js';

export interface ReservationServiceDeps {
  readonly ledger: Pick<UsageLedgerStore, 'append'>;
  readonly once: Pick<UsageOnce, 'apply'>;
  readonly reservations: Pick<UsageReservationStore, 'insert' | 'get' | 'remove'>;
}

export interface HoldRequest {
  readonly chain: UsageChain;
  readonly terms: ChainTerms;
  readonly amount: number;
  readonly periodEnd: Date;
  readonly expiresAt: Date;
  readonly idempotencyKey: string;
  /** Under block: refuse what the balance does not cover. */
  readonly refuseOverage: boolean;
  /** What was asked, to refuse the key's reuse for another reservation. */
  readonly fingerprint: string;
}

export interface Held {
  readonly reservationId: string;
  readonly expiresAt: Date;
}

export class ReservationService {
  constructor(private readonly deps: ReservationServiceDeps) {}

  async hold(request: HoldRequest): Promise<Held> {
    const { chain } = request;
    const outcome = await this.deps.once.apply(
      {
        claimId: usageClaimId(chain.projectId, request.idempotencyKey),
        projectId: chain.projectId,
        idempotencyKey: request.idempotencyKey,
        fingerprint: request.fingerprint,
        chain: chainId(chain),
        idPrefix: 'rsv',
      },
      (reservationId) => this.appendHold(request, reservationId),
    );
    if (outcome.kind === 'refused') {
      throw new FailedPreconditionError(
        `the balance of ${chain.feature} is ${outcome.balance}, less than the amount ${request.amount}; nothing was held`,
      );
    }
    const doc = await this.deps.reservations.get(outcome.usageId);
    return { reservationId: outcome.usageId, expiresAt: doc?.expires_at ?? request.expiresAt };
  }

  /** The reservation `id` of this project and customer; NOT_FOUND for anyone else's. */
  async find(projectId: string, customerId: string, id: string): Promise<UsageReservationDoc> {
    const doc = await this.deps.reservations.get(id);
    if (!doc || doc.project_id !== projectId || doc.customer_id !== customerId) {
      throw new NotFoundError(`reservation ${id}`);
    }
    return doc;
  }

  /** Records `finalAmount` and ends the hold; answers the usage id (of the first commit). */
  async commit(doc: UsageReservationDoc, terms: ChainTerms, finalAmount: number): Promise<string> {
    const outcome = await this.end(doc, ['commit', finalAmount], (usageId) =>
      this.deps.ledger.append(
        chainOf(doc),
        {
          kind: 'commit',
          opId: usageId,
          usageId: finalAmount > 0 ? usageId : null,
          reservationId: doc._id,
          idempotencyKey: null,
          occurredAt: doc.created_at,
        },
        (state) => planCommit(state, terms, doc._id, finalAmount),
      ),
    );
    if (outcome.kind === 'refused') {
      throw new FailedPreconditionError(
        `reservation ${doc._id} is no longer held: it expired or was released`,
      );
    }
    return outcome.usageId;
  }

  /** Ends the hold without usage; a reservation no longer held is left as it is. */
  async release(doc: UsageReservationDoc, terms: ChainTerms): Promise<void> {
    await this.end(doc, ['release'], (usageId) =>
      this.deps.ledger.append(
        chainOf(doc),
        {
          kind: 'release',
          opId: usageId,
          usageId: null,
          reservationId: doc._id,
          idempotencyKey: null,
          occurredAt: terms.now,
        },
        (state) => planRelease(state, terms, doc._id),
      ),
    );
  }

  private end(
    doc: UsageReservationDoc,
    how: readonly unknown[],
    append: (usageId: string) => Promise<AppendOutcome>,
  ) {
    return this.deps.once.apply(
      {
        claimId: reservationEndClaimId(doc.project_id, doc._id),
        projectId: doc.project_id,
        idempotencyKey: `end of ${doc._id}`,
        fingerprint: JSON.stringify(how),
        chain: doc.chain,
        mismatch: () =>
          new FailedPreconditionError(
            `reservation ${doc._id} was already ended otherwise (released, or committed with another final_amount)`,
          ),
      },
      append,
    );
  }

  /**
   * The reservation's document goes first, so its id always leads to its
   * chain; a take-over of a crashed attempt finds it and keeps its expiry.
   */
  private async appendHold(request: HoldRequest, reservationId: string): Promise<AppendOutcome> {
    const { chain } = request;
    const doc = await this.deps.reservations.insert({
      _id: reservationId,
      project_id: chain.projectId,
      customer_id: chain.customerId,
      feature: chain.feature,
      chain: chainId(chain),
      amount: request.amount,
      expires_at: request.expiresAt,
      period_end: request.periodEnd,
      created_at: request.terms.now,
    });
    const hold = {
      id: reservationId,
      amount: doc.amount,
      expiresAt: doc.expires_at,
      periodEnd: doc.period_end,
    };
    const outcome = await this.deps.ledger.append(
      chain,
      {
        kind: 'hold',
        opId: reservationId,
        usageId: null,
        reservationId,
        idempotencyKey: request.idempotencyKey,
        occurredAt: request.terms.now,
      },
      (state) => planHold(state, request.terms, hold, request.refuseOverage),
    );
    if (outcome.kind === 'refused') await this.deps.reservations.remove(reservationId);
    return outcome;
  }
}

function chainOf(doc: UsageReservationDoc): UsageChain {
  return { projectId: doc.project_id, customerId: doc.customer_id, feature: doc.feature };
}
