/**
 * Adds the current period's usage, balance, reservations and credits to the
 * metered features of an entitlement set; they come from the ledger chain's
 * head (durable), so a set rebuilt after a Redis flush or a restart shows
 * the same standing.
 */
import type { Entitlement, EntitlementInputs, EntitlementSet } from '../domain/entitlements.js';
import {
  type ChainState,
  type ChainTerms,
  chainStanding,
  openHolds,
  usableLots,
} from '../domain/usage-allocation.js';
import { meteredAllowance, meteredStanding, periodOf } from '../domain/usage-balance.js';
import type { UsageChain } from '../store/usage-ledger-store.js';
import { chainTermsOf } from './metered-terms.js';

/** The ledger as far as reading a chain's state goes (UsageLedgerStore satisfies it). */
export interface UsageTotals {
  state(chain: UsageChain): Promise<ChainState>;
}

export async function withMeteredStandings(
  set: EntitlementSet,
  inputs: EntitlementInputs,
  customer: { readonly projectId: string; readonly customerId: string },
  totals: UsageTotals,
): Promise<EntitlementSet> {
  const entitlements = await Promise.all(
    set.entitlements.map(async (entitlement) => {
      if (!meteredAllowance(entitlement, inputs)) return entitlement;
      const state = await totals.state({ ...customer, feature: entitlement.feature });
      return withChainState(entitlement, inputs, state);
    }),
  );
  return {
    // The rest of the set (the denials) is the engine's, unchanged.
    ...set,
    entitlements,
    validUntil: entitlements.reduce<Date | null>(
      (found, e) => earlier(found, e.validUntil),
      set.validUntil,
    ),
  };
}

/** A metered feature's entitlement with its standing in `state` (other features unchanged). */
export function withChainState(
  entitlement: Entitlement,
  inputs: EntitlementInputs,
  state: ChainState,
): Entitlement {
  const allowance = meteredAllowance(entitlement, inputs);
  if (!allowance) return entitlement;
  const period = periodOf(allowance, inputs.now);
  const terms = chainTermsOf(allowance, inputs, entitlement.feature);
  return {
    ...entitlement,
    metered: meteredStanding(allowance, period, chainStanding(state, terms, period.end)),
    // The allowance starts again at the period's end, a hold releases
    // itself at its expiry, a credit lot ends at its: the answer changes then.
    validUntil: [period.end, ...changesOf(state, terms)].reduce(earlier, entitlement.validUntil),
  };
}

function changesOf(state: ChainState, terms: ChainTerms): Date[] {
  const holds = openHolds(state, terms.now).map((hold) => hold.expiresAt);
  const lots = usableLots(terms.lots, terms.now).flatMap((lot) =>
    lot.expiresAt ? [lot.expiresAt] : [],
  );
  return [...holds, ...lots];
}

function earlier(a: Date | null, b: Date | null): Date | null {
  if (a === null) return b;
  if (b === null) return a;
  return b.getTime() < a.getTime() ? b : a;
}
