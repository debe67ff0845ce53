/**
 * The state of a usage chain (one per project, customer and metered
 * feature) and how usage draws on it. Pure.
 *
 * A usage is taken from the period's allowance first, then from credit lots
 * by earliest expiry (ties: created_at, then id), then from lots that never
 * expire; what remains is overage (docs/decisions.md, "Consumption order").
 * Open reservations (holds) are not taken from any source until they are
 * committed: they only lower the balance. A hold whose expiry has passed
 * counts as released for every reader, without any call.
 */
import type { CreditLotFacts } from './credits.js';

/** Usage recorded in one period (keyed by its end) and how much of it the allowance covered. */
export interface PeriodUsage {
  readonly end: Date;
  readonly usage: number;
  readonly fromAllowance: number;
}

/** An open reservation: `amount` held until `expiresAt`, counting in the period ending `periodEnd`. */
export interface UsageHold {
  readonly id: string;
  readonly amount: number;
  readonly expiresAt: Date;
  readonly periodEnd: Date;
  /** When it was made: its commit's usage occurred then. */
  readonly createdAt: Date;
}

/** How much of one credit lot a chain used. */
export interface CreditUse {
  readonly id: string;
  readonly used: number;
}

export interface ChainState {
  readonly periods: readonly PeriodUsage[];
  readonly holds: readonly UsageHold[];
  readonly creditsUsed: readonly CreditUse[];
}

export const emptyChainState: ChainState = { periods: [], holds: [], creditsUsed: [] };

/** Usage may be tracked up to this far back (Stripe meter events accept 35 days). */
export const usageLookbackMs = 35 * 24 * 3600 * 1000;

/** What a chain's usage draws on right now. */
export interface ChainTerms {
  /** Units per period; null: unlimited (credits are then never used). */
  readonly allowance: number | null;
  /** The feature's credit lots (any; only the usable ones at `now` count). */
  readonly lots: readonly CreditLotFacts[];
  readonly now: Date;
}

/** Where one usage came from. */
export interface Allocation {
  readonly fromAllowance: number;
  readonly credits: readonly CreditUse[];
  readonly overage: number;
}

/** A period's standing as a check answers it. */
export interface ChainStanding {
  readonly usage: number;
  /** Allowance left + credits left − reserved, never below 0; null: unlimited. */
  readonly balance: number | null;
  readonly reserved: number;
  readonly credits: number;
}

/** Lots that can be used at `now`, in consumption order. */
export function usableLots(lots: readonly CreditLotFacts[], now: Date): CreditLotFacts[] {
  const t = now.getTime();
  return lots
    .filter(
      (lot) =>
        lot.createdAt.getTime() <= t &&
        (lot.endedAt === null || lot.endedAt.getTime() > t) &&
        (lot.expiresAt === null || lot.expiresAt.getTime() > t),
    )
    .sort(consumptionOrder);
}

function consumptionOrder(a: CreditLotFacts, b: CreditLotFacts): number {
  const expiry = (lot: CreditLotFacts) => lot.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY;
  if (expiry(a) !== expiry(b)) return expiry(a) < expiry(b) ? -1 : 1;
  if (a.createdAt.getTime() !== b.createdAt.getTime()) {
    return a.createdAt.getTime() - b.createdAt.getTime();
  }
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The holds that are still open at `now`. */
export function openHolds(state: ChainState, now: Date): UsageHold[] {
  return state.holds.filter((hold) => hold.expiresAt.getTime() > now.getTime());
}

export function periodUsage(state: ChainState, periodEnd: Date): PeriodUsage {
  return (
    state.periods.find((p) => p.end.getTime() === periodEnd.getTime()) ?? {
      end: periodEnd,
      usage: 0,
      fromAllowance: 0,
    }
  );
}

function usedOf(state: ChainState, lotId: string): number {
  return state.creditsUsed.find((c) => c.id === lotId)?.used ?? 0;
}

/** Remaining credits of the usable lots. */
export function creditsLeft(state: ChainState, terms: ChainTerms): number {
  return usableLots(terms.lots, terms.now).reduce(
    (sum, lot) => sum + Math.max(0, lot.amount - usedOf(state, lot.id)),
    0,
  );
}

export function chainStanding(
  state: ChainState,
  terms: ChainTerms,
  periodEnd: Date,
): ChainStanding {
  const period = periodUsage(state, periodEnd);
  const reserved = openHolds(state, terms.now).reduce((sum, hold) => sum + hold.amount, 0);
  const credits = creditsLeft(state, terms);
  const balance =
    terms.allowance === null
      ? null
      : Math.max(0, Math.max(0, terms.allowance - period.fromAllowance) + credits - reserved);
  return { usage: period.usage, balance, reserved, credits };
}

/** Allowance first, then credits in consumption order, the rest overage. */
export function allocate(
  state: ChainState,
  terms: ChainTerms,
  periodEnd: Date,
  amount: number,
): Allocation {
  if (terms.allowance === null) return { fromAllowance: amount, credits: [], overage: 0 };
  const allowanceLeft = Math.max(0, terms.allowance - periodUsage(state, periodEnd).fromAllowance);
  const fromAllowance = Math.min(amount, allowanceLeft);
  let rest = amount - fromAllowance;
  const credits: CreditUse[] = [];
  for (const lot of usableLots(terms.lots, terms.now)) {
    if (rest === 0) break;
    const take = Math.min(rest, Math.max(0, lot.amount - usedOf(state, lot.id)));
    if (take === 0) continue;
    credits.push({ id: lot.id, used: take });
    rest -= take;
  }
  return { fromAllowance, credits, overage: rest };
}

/** The state after `amount` of usage allocated as `allocation` in the period ending `periodEnd`. */
export function withUsage(
  state: ChainState,
  periodEnd: Date,
  amount: number,
  allocation: Allocation,
): ChainState {
  const period = periodUsage(state, periodEnd);
  const updated: PeriodUsage = {
    end: periodEnd,
    usage: period.usage + amount,
    fromAllowance: period.fromAllowance + allocation.fromAllowance,
  };
  const periods = [...state.periods.filter((p) => p.end.getTime() !== periodEnd.getTime()), updated]
    .slice()
    .sort((a, b) => a.end.getTime() - b.end.getTime());
  const creditsUsed = state.creditsUsed.map((c) => ({
    id: c.id,
    used: c.used + (allocation.credits.find((a) => a.id === c.id)?.used ?? 0),
  }));
  for (const use of allocation.credits) {
    if (!creditsUsed.some((c) => c.id === use.id)) creditsUsed.push(use);
  }
  return { ...state, periods, creditsUsed };
}

/**
 * What an append keeps: periods ending within the lookback (the current one
 * ends later still) and open holds. Credit uses are kept: a lot's use must
 * not come back while the lot can still be used.
 */
export function pruned(state: ChainState, now: Date): ChainState {
  const oldest = now.getTime() - usageLookbackMs;
  return {
    periods: state.periods.filter((p) => p.end.getTime() > oldest),
    holds: openHolds(state, now),
    creditsUsed: state.creditsUsed,
  };
}
