/**
 * How a usage chain's state is stored in each ledger entry: the domain's
 * ChainState with snake_case fields (the collection's convention).
 */
import type { Allocation, ChainState } from '../domain/usage-allocation.js';

export interface ChainStateDoc {
  periods: { end: Date; usage: number; from_allowance: number }[];
  /** `created_at` is absent in entries written before holds carried it. */
  holds: { id: string; amount: number; expires_at: Date; period_end: Date; created_at?: Date }[];
  credits_used: { id: string; used: number }[];
}

export interface AllocationDoc {
  from_allowance: number;
  credits: { id: string; used: number }[];
  overage: number;
}

export function stateDoc(state: ChainState): ChainStateDoc {
  return {
    periods: state.periods.map((p) => ({
      end: p.end,
      usage: p.usage,
      from_allowance: p.fromAllowance,
    })),
    holds: state.holds.map((h) => ({
      id: h.id,
      amount: h.amount,
      expires_at: h.expiresAt,
      period_end: h.periodEnd,
      created_at: h.createdAt,
    })),
    credits_used: state.creditsUsed.map((c) => ({ id: c.id, used: c.used })),
  };
}

export function stateFromDoc(doc: ChainStateDoc): ChainState {
  return {
    periods: doc.periods.map((p) => ({
      end: p.end,
      usage: p.usage,
      fromAllowance: p.from_allowance,
    })),
    holds: doc.holds.map((h) => ({
      id: h.id,
      amount: h.amount,
      expiresAt: h.expires_at,
      periodEnd: h.period_end,
      // Older holds: their expiry is inside the same period and late enough for a meter event.
      createdAt: h.created_at ?? h.expires_at,
    })),
    creditsUsed: doc.credits_used.map((c) => ({ id: c.id, used: c.used })),
  };
}

export function allocationDoc(allocation: Allocation | null): AllocationDoc | null {
  if (!allocation) return null;
  return {
    from_allowance: allocation.fromAllowance,
    credits: allocation.credits.map((c) => ({ id: c.id, used: c.used })),
    overage: allocation.overage,
  };
}
