/**
 * Adds the current period's usage and balance to the metered features of an
 * entitlement set; usage totals come from the ledger head (durable), so a
 * set rebuilt after a Redis flush or a restart shows the same usage.
 */
import type { EntitlementInputs, EntitlementSet } from '../domain/entitlements.js';
import { meteredAllowance, meteredStanding, periodOf } from '../domain/usage-balance.js';
import type { UsageBucket } from '../store/usage-ledger-store.js';

/** The ledger as far as reading totals goes (UsageLedgerStore satisfies it). */
export interface UsageTotals {
  total(bucket: UsageBucket): Promise<number>;
}

export async function withMeteredStandings(
  set: EntitlementSet,
  inputs: EntitlementInputs,
  customer: { readonly projectId: string; readonly customerId: string },
  totals: UsageTotals,
): Promise<EntitlementSet> {
  const entitlements = await Promise.all(
    set.entitlements.map(async (entitlement) => {
      const allowance = meteredAllowance(entitlement, inputs);
      if (!allowance) return entitlement;
      const period = periodOf(allowance, inputs.now);
      const usage = await totals.total({
        ...customer,
        feature: entitlement.feature,
        periodEnd: period.end,
      });
      return {
        ...entitlement,
        metered: meteredStanding(allowance, period, usage),
        // The allowance starts again at the period's end: the answer changes then.
        validUntil: earlier(entitlement.validUntil, period.end),
      };
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

function earlier(a: Date | null, b: Date | null): Date | null {
  if (a === null) return b;
  if (b === null) return a;
  return b.getTime() < a.getTime() ? b : a;
}
