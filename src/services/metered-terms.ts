/**
 * What a usage of a metered feature draws on for one customer: the
 * allowance the engine's sources give (usage-balance.ts) and the feature's
 * credit lots, from the inputs already loaded.
 */
import type { MeteredRules } from '../domain/catalog.js';
import {
  computeEntitlements,
  type Entitlement,
  type EntitlementInputs,
  entitlementFor,
} from '../domain/entitlements.js';
import { FailedPreconditionError, NotFoundError } from '../domain/errors.js';
import type { ChainTerms } from '../domain/usage-allocation.js';
import { type MeteredAllowance, meteredAllowance, meteredKindOf } from '../domain/usage-balance.js';

export interface MeteredTerms {
  /** The feature's entitlement as the engine computed it from the inputs (before the ledger). */
  readonly entitlement: Entitlement;
  readonly allowance: MeteredAllowance;
  readonly terms: ChainTerms;
}

/**
 * The feature must be metered in the catalog; a customer without any
 * source of it has an allowance of 0 (usage is still recorded unless
 * refused), in calendar months.
 */
export function meteredTermsOf(inputs: EntitlementInputs, feature: string): MeteredTerms {
  const kind = meteredKindOf(inputs.catalog, feature);
  if (kind.kind === 'unknown') throw new NotFoundError(`feature ${feature}`);
  if (kind.kind === 'not_metered') {
    throw new FailedPreconditionError(`feature ${feature} is not metered in the catalog`);
  }
  const entitlement = entitlementFor(computeEntitlements(inputs), feature);
  const allowance = meteredAllowance(entitlement, inputs) ?? noAllowance(kind.rules);
  return { entitlement, allowance, terms: chainTermsOf(allowance, inputs, feature) };
}

export function chainTermsOf(
  allowance: MeteredAllowance,
  inputs: EntitlementInputs,
  feature: string,
): ChainTerms {
  return {
    allowance: allowance.allowance,
    lots: inputs.credits.filter((lot) => lot.feature === feature),
    now: inputs.now,
  };
}

function noAllowance(rules: MeteredRules): MeteredAllowance {
  return { rules, allowance: 0, billingPeriod: null };
}
