/**
 * Reservations on the usage ledger, each step one insert into the
 * feature's chain (src/store/usage-ledger-store.ts):
 * - a hold is decided together with usage on the chain's head (no
 *   overspend across replicas); its once key is the ReserveUsage key, so a
 *   retry, also concurrent or on another replica, answers the same hold;
 * - its id names the entry (src/domain/reservation-ids.ts), so a commit or
 *   release finds it by `_id` alone, and another customer's or project's
 *   id (or a forged one) is NOT_FOUND without a scan;
 * - its commit or release carries the once key of the reservation's end:
 *   of two ends, on any replica, one is inserted and the other answers it
 *   (the same commit again answers its usage id; any other is
 *   FAILED_PRECONDITION);
 * - a hold past its expiry counts as released for every reader; nothing
 *   runs for that.
 * A process that dies between steps leaves either the entry or nothing.
 *
 * UsageService calls it with the terms it loaded and does the rest
 * (notifications, meter reports, the standing after).
 */
import { randomBytes } from 'node:crypto';
import { FailedPreconditionError, InvalidInputError, NotFoundError } from '../domain/errors.js';
import {
  featuresOfReservation,
  parseReservationId,
  reservationId,
} from '../domain/reservation-ids.js';
import type { ChainState, ChainTerms, UsageHold } from '../domain/usage-allocation.js';
import { endOnceKey, reserveOnceKey } from '../domain/usage-once-keys.js';
import { type PlanAt, planCommit, planHold, planRelease } from '../domain/usage-plans.js';
import { stateFromDoc } from '../store/usage-chain-docs.js';
import {
  type AppendOutcome,
  chainId,
  type EntryFacts,
  type UsageChain,
  type UsageEntryDoc,
  type UsageLedgerStore,
} from '../store/usage-ledger-store.js';
import { newOperationId } from './usage-ids.js';

export interface ReservationServiceDeps {
  readonly ledger: Pick<UsageLedgerStore, 'append' | 'entryAt' | 'knownHold'>;
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
  /** The chain's state after the hold this call wrote; null for a retry (nothing written). */
  readonly written: ChainState | null;
}

/** A reservation as its hold has it, and the chain that holds it. */
export interface HeldReservation extends UsageHold {
  readonly chain: UsageChain;
}

export interface CommitRequest {
  readonly terms: ChainTerms;
  readonly finalAmount: number;
  /** Under block: more than the amount held is refused. */
  readonly refuseOverHeld: boolean;
}

export interface Committed {
  /** Empty when nothing was recorded (final amount 0). */
  readonly usageId: string;
  /** The chain's state after the commit this call wrote; null for a retry (its usage id is the first's). */
  readonly written: ChainState | null;
}

/** 16 hex digits: the part of a reservation id nobody can guess from its seq. */
const newRandomPart = () => randomBytes(8).toString('hex');

export class ReservationService {
  constructor(private readonly deps: ReservationServiceDeps) {}

  async hold(request: HoldRequest): Promise<Held> {
    const { chain, terms } = request;
    const random = newRandomPart();
    const idAt = (seq: number) => reservationId(chain.feature, seq, random);
    const outcome = await this.deps.ledger.append(
      chain,
      (seq) => ({
        kind: 'hold',
        opId: idAt(seq),
        usageId: null,
        reservationId: idAt(seq),
        idempotencyKey: request.idempotencyKey,
        occurredAt: terms.now,
        onceKey: reserveOnceKey(chain.projectId, request.idempotencyKey),
        request: request.fingerprint,
        expiresAt: request.expiresAt,
      }),
      (state, seq) =>
        planHold(
          state,
          terms,
          {
            id: idAt(seq),
            amount: request.amount,
            expiresAt: request.expiresAt,
            periodEnd: request.periodEnd,
            createdAt: terms.now,
          },
          request.refuseOverage,
        ),
    );
    if (outcome.kind === 'refused') {
      throw new FailedPreconditionError(
        `the balance of ${chain.feature} is ${outcome.balance}, less than the amount ${request.amount}; nothing was held`,
      );
    }
    const { entry } = outcome;
    if (outcome.repeated && (entry.kind !== 'hold' || entry.request !== request.fingerprint)) {
      throw new InvalidInputError('idempotency_key was used for another reservation', {
        field: 'idempotency_key',
      });
    }
    return {
      reservationId: entry.reservation_id ?? entry.op_id,
      expiresAt: entry.expires_at ?? request.expiresAt,
      written: writtenBy(outcome),
    };
  }

  /**
   * The reservation `id` of this project and customer: from the chain as
   * this process last saw it when it holds it (no read; _id lookups grow
   * with the collection on FerretDB, docs/ferretdb.md), else by its hold's
   * `_id` (`features`: the catalog's metered features, one of which the
   * id's hash names); NOT_FOUND for anyone else's and for ids nobody made.
   */
  async find(
    projectId: string,
    customerId: string,
    id: string,
    features: Iterable<string>,
  ): Promise<HeldReservation> {
    const parts = parseReservationId(id);
    for (const feature of parts ? featuresOfReservation(parts, features) : []) {
      const chain = { projectId, customerId, feature };
      const known = this.deps.ledger.knownHold(chain, id);
      if (known) return { ...known, chain };
      const entry = parts ? await this.deps.ledger.entryAt(chainId(chain), parts.seq) : null;
      const held = entry ? heldBy(entry, id, chain) : undefined;
      if (held) return held;
    }
    throw new NotFoundError(`reservation ${id}`);
  }

  /** Records the final amount and ends the hold; answers the usage id (of the first commit). */
  async commit(reservation: HeldReservation, request: CommitRequest): Promise<Committed> {
    const usageId = newOperationId('usg');
    const { finalAmount, terms } = request;
    const outcome = await this.end(
      reservation,
      {
        kind: 'commit',
        opId: usageId,
        usageId: finalAmount > 0 ? usageId : null,
        occurredAt: reservation.createdAt,
        request: JSON.stringify(['commit', finalAmount]),
      },
      (state) => planCommit(state, terms, reservation.id, finalAmount, request.refuseOverHeld),
    );
    if (outcome.kind === 'refused') {
      if (outcome.reason === 'over_held') {
        throw new InvalidInputError(
          `final_amount must be at most the amount held, ${outcome.balance}, when overage is blocked`,
          { field: 'final_amount' },
        );
      }
      throw new FailedPreconditionError(
        `reservation ${reservation.id} is no longer held: it expired or was released`,
      );
    }
    return { usageId: outcome.entry.usage_id ?? '', written: writtenBy(outcome) };
  }

  /** Ends the hold without usage; a reservation already released or expired is left as it is. */
  async release(reservation: HeldReservation, terms: ChainTerms): Promise<void> {
    await this.end(
      reservation,
      {
        kind: 'release',
        opId: newOperationId('usg'),
        usageId: null,
        occurredAt: terms.now,
        request: JSON.stringify(['release']),
      },
      (state) => planRelease(state, terms, reservation.id),
    );
  }

  /** One insert with the reservation's end key; the end that was there first must be this one. */
  private async end(
    reservation: HeldReservation,
    facts: Pick<EntryFacts, 'kind' | 'opId' | 'usageId' | 'occurredAt'> & { request: string },
    plan: PlanAt,
  ): Promise<AppendOutcome> {
    const { chain, id } = reservation;
    const outcome = await this.deps.ledger.append(
      chain,
      {
        ...facts,
        reservationId: id,
        idempotencyKey: null,
        onceKey: endOnceKey(chain.projectId, id),
      },
      plan,
    );
    if (
      outcome.kind === 'appended' &&
      outcome.repeated &&
      outcome.entry.request !== facts.request
    ) {
      throw new FailedPreconditionError(
        `reservation ${id} was already ended otherwise (released, or committed with another final_amount)`,
      );
    }
    return outcome;
  }
}

/** The entry just written holds the chain's state: the answer needs no read. */
function writtenBy(outcome: Extract<AppendOutcome, { kind: 'appended' }>): ChainState | null {
  return outcome.repeated ? null : stateFromDoc(outcome.entry.state);
}

/** The reservation `id` when `entry` is its hold. */
function heldBy(entry: UsageEntryDoc, id: string, chain: UsageChain): HeldReservation | undefined {
  if (entry.kind !== 'hold' || entry.reservation_id !== id) return undefined;
  const hold = stateFromDoc(entry.state).holds.find((h) => h.id === id);
  if (!hold) return undefined;
  return { ...hold, chain };
}
