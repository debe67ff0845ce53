/**
 * What one append to a usage chain writes, decided from the chain's state
 * at its head. Pure: the ledger store runs a plan against the head it read
 * and retries it against the new head when another writer won the race, so
 * a refusal is always decided on the latest state. The store hands a plan
 * the seq its entry would get as well (a reservation's id names its hold's
 * seq, src/domain/reservation-ids.ts); these functions take what the
 * operation derived from it.
 */
import {
  type Allocation,
  allocate,
  type ChainState,
  type ChainTerms,
  chainStanding,
  openHolds,
  pruned,
  type UsageHold,
  withUsage,
} from './usage-allocation.js';
import { wouldOverspend } from './usage-balance.js';

export type ChainPlan =
  | {
      readonly kind: 'write';
      /** The usage this entry records (0 for a hold or a release). */
      readonly amount: number;
      readonly periodEnd: Date;
      /** Where the usage came from; null when it records none. */
      readonly allocation: Allocation | null;
      readonly state: ChainState;
    }
  | {
      readonly kind: 'refuse';
      /**
       * The balance does not cover it; the reservation is no longer held
       * (ended or expired); or a commit asks more than was held under block.
       */
      readonly reason: RefusalReason;
      readonly balance: number;
    };

export type RefusalReason = 'balance' | 'not_held' | 'over_held';

/** What the ledger store runs: the chain's state at its head and the seq the entry would get. */
export type PlanAt = (state: ChainState, seq: number) => ChainPlan;

export interface UsageRequest {
  readonly periodEnd: Date;
  readonly amount: number;
  /** Refuse what the balance does not cover (an enforced track under block). */
  readonly refuseOverage: boolean;
}

export function planUsage(state: ChainState, terms: ChainTerms, request: UsageRequest): ChainPlan {
  const balance = chainStanding(state, terms, request.periodEnd).balance;
  if (request.refuseOverage && wouldOverspend(balance, 0, request.amount)) {
    return { kind: 'refuse', reason: 'balance', balance: balance ?? 0 };
  }
  return recordUsage(state, terms, request.periodEnd, request.amount);
}

/** Holds `hold` when the balance covers it or overage is allowed. */
export function planHold(
  state: ChainState,
  terms: ChainTerms,
  hold: UsageHold,
  refuseOverage: boolean,
): ChainPlan {
  const balance = chainStanding(state, terms, hold.periodEnd).balance;
  if (refuseOverage && wouldOverspend(balance, 0, hold.amount)) {
    return { kind: 'refuse', reason: 'balance', balance: balance ?? 0 };
  }
  return {
    kind: 'write',
    amount: 0,
    periodEnd: hold.periodEnd,
    allocation: null,
    state: pruned({ ...state, holds: [...state.holds, hold] }, terms.now),
  };
}

/**
 * Ends the open hold `id` and records `finalAmount` in the hold's period:
 * never refused for balance up to what it held. More than it held is
 * refused under block (`refuseOverHeld`, over_held); under allow the rest
 * is usage like any other (allowance, credits, then overage).
 */
export function planCommit(
  state: ChainState,
  terms: ChainTerms,
  id: string,
  finalAmount: number,
  refuseOverHeld: boolean,
): ChainPlan {
  const hold = openHolds(state, terms.now).find((h) => h.id === id);
  if (!hold) return notHeld;
  if (refuseOverHeld && finalAmount > hold.amount) {
    return { kind: 'refuse', reason: 'over_held', balance: hold.amount };
  }
  return recordUsage(withoutHold(state, id), terms, hold.periodEnd, finalAmount);
}

/** Ends the open hold `id` without usage. */
export function planRelease(state: ChainState, terms: ChainTerms, id: string): ChainPlan {
  const hold = openHolds(state, terms.now).find((h) => h.id === id);
  if (!hold) return notHeld;
  return {
    kind: 'write',
    amount: 0,
    periodEnd: hold.periodEnd,
    allocation: null,
    state: pruned(withoutHold(state, id), terms.now),
  };
}

function recordUsage(
  state: ChainState,
  terms: ChainTerms,
  periodEnd: Date,
  amount: number,
): ChainPlan {
  const allocation = allocate(state, terms, periodEnd, amount);
  return {
    kind: 'write',
    amount,
    periodEnd,
    allocation,
    state: pruned(withUsage(state, periodEnd, amount, allocation), terms.now),
  };
}

function withoutHold(state: ChainState, id: string): ChainState {
  return { ...state, holds: state.holds.filter((h) => h.id !== id) };
}

const notHeld: ChainPlan = { kind: 'refuse', reason: 'not_held', balance: 0 };
