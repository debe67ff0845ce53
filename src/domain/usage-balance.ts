/**
 * The allowance, balance and refusal rules of metered features. Pure.
 *
 * A metered feature's allowance for a period is the sum over the sources the
 * entitlement engine (entitlements.ts) counts right now, so past_due within
 * grace counts and past grace or ended does not:
 * - a subscription item or a purchase mapped to it: the catalog's allowance,
 *   times the item's quantity when per unit;
 * - a grant with a limit adds that many units per period; a grant without a
 *   limit makes the feature unlimited (balance absent, never refused).
 * Usage draws it down, then credits (usage-allocation.ts); the balance
 * never goes below 0 (overage under `allow` shows in the usage). Under
 * `block` a request is refused when the balance does not cover it
 * (INSUFFICIENT_BALANCE).
 */

import type { Catalog, MeteredRules } from './catalog.js';
import type {
  Entitlement,
  MeteredStanding,
  PurchaseFacts,
  SubscriptionFacts,
} from './entitlements.js';
import type { ChainStanding } from './usage-allocation.js';
import { type UsagePeriod, usagePeriodAt } from './usage-periods.js';

export interface MeteredAllowance {
  readonly rules: MeteredRules;
  /** Units per period; null: unlimited. */
  readonly allowance: number | null;
  /** The billing period the feature resets with; null: no subscription gives one. */
  readonly billingPeriod: UsagePeriod | null;
}

export type MeteredKind =
  | { readonly kind: 'metered'; readonly rules: MeteredRules }
  | { readonly kind: 'not_metered' }
  | { readonly kind: 'unknown' };

/** Whether the catalog knows `feature`, and its metered rules when it is metered. */
export function meteredKindOf(catalog: Catalog, feature: string): MeteredKind {
  let known = false;
  for (const features of catalog.values()) {
    for (const entry of features) {
      if (entry.feature !== feature) continue;
      if (entry.kind === 'metered' && entry.metered)
        return { kind: 'metered', rules: entry.metered };
      known = true;
    }
  }
  return known ? { kind: 'not_metered' } : { kind: 'unknown' };
}

/** The catalog's metered features (a reservation id names one of them by hash). */
export function meteredFeaturesOf(catalog: Catalog): Set<string> {
  const features = new Set<string>();
  for (const entries of catalog.values()) {
    for (const entry of entries) if (entry.kind === 'metered') features.add(entry.feature);
  }
  return features;
}

export interface AllowanceFacts {
  readonly catalog: Catalog;
  readonly subscriptions: readonly SubscriptionFacts[];
  readonly purchases: readonly PurchaseFacts[];
}

/**
 * The allowance of an entitlement (as the engine computed it) of a metered
 * feature; undefined when the feature is not allowed or not metered.
 */
export function meteredAllowance(
  entitlement: Entitlement,
  facts: AllowanceFacts,
): MeteredAllowance | undefined {
  const kind = meteredKindOf(facts.catalog, entitlement.feature);
  if (!entitlement.allowed || kind.kind !== 'metered') return undefined;
  let allowance: number | null = 0;
  let billingPeriod: UsagePeriod | null = null;
  const seen = new Set<string>();
  for (const source of entitlement.sources) {
    const key = `${source.kind}\u0000${source.id}\u0000${source.catalogId ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    // Credits are not allowance: the ledger draws them after it (usage-allocation.ts).
    if (source.kind === 'credits') continue;
    if (source.kind === 'grant') {
      allowance = source.limit === null || allowance === null ? null : allowance + source.limit;
      continue;
    }
    const items = sourceItems(source.kind, source.id, facts);
    const rules = rulesFor(facts.catalog, source.catalogId, entitlement.feature) ?? kind.rules;
    for (const item of items) {
      if (item.priceId !== source.catalogId && item.productId !== source.catalogId) continue;
      const units = rules.allowancePerUnit
        ? rules.allowance * Math.max(item.quantity, 0)
        : rules.allowance;
      if (allowance !== null) allowance += units;
      billingPeriod = laterPeriod(billingPeriod, item.period);
    }
  }
  return { rules: kind.rules, allowance, billingPeriod };
}

interface ItemFacts {
  readonly priceId: string;
  readonly productId: string;
  readonly quantity: number;
  readonly period: UsagePeriod | null;
}

function sourceItems(
  kind: 'subscription' | 'purchase',
  id: string,
  facts: AllowanceFacts,
): readonly ItemFacts[] {
  if (kind === 'purchase') {
    const purchase = facts.purchases.find((p) => p.id === id);
    return (purchase?.items ?? []).map((item) => ({ ...item, period: null }));
  }
  const subscription = facts.subscriptions.find((s) => s.id === id);
  return (subscription?.items ?? []).map((item) => ({
    ...item,
    period:
      item.currentPeriodStart && item.currentPeriodEnd
        ? { start: item.currentPeriodStart, end: item.currentPeriodEnd }
        : null,
  }));
}

function rulesFor(
  catalog: Catalog,
  catalogId: string | null,
  feature: string,
): MeteredRules | undefined {
  if (catalogId === null) return undefined;
  return catalog.get(catalogId)?.find((f) => f.feature === feature)?.metered ?? undefined;
}

/** Of several subscriptions, the one renewed last sets the period. */
function laterPeriod(a: UsagePeriod | null, b: UsagePeriod | null): UsagePeriod | null {
  if (a === null) return b;
  if (b === null) return a;
  return b.start.getTime() > a.start.getTime() ? b : a;
}

/** The period a usage at `at` counts in. */
export function periodOf(allowance: MeteredAllowance, at: Date): UsagePeriod {
  return usagePeriodAt(allowance.rules.reset, allowance.billingPeriod, at);
}

/** The standing of the chain (usage-allocation.ts) in `period`, with the feature's rules. */
export function meteredStanding(
  allowance: MeteredAllowance,
  period: UsagePeriod,
  chain: ChainStanding,
): MeteredStanding {
  return {
    usage: chain.usage,
    balance: chain.balance,
    reserved: chain.reserved,
    credits: chain.credits,
    resetsAt: period.end,
    overage: allowance.rules.overage,
  };
}

/** Under `block`, a request the balance does not cover is refused. */
export function coversRequest(standing: MeteredStanding, requested: number): boolean {
  if (standing.overage === 'allow' || standing.balance === null) return true;
  return standing.balance >= requested;
}

/** Whether adding `amount` to `usage` would spend more than `allowance` (null: unlimited). */
export function wouldOverspend(allowance: number | null, usage: number, amount: number): boolean {
  return allowance !== null && usage + amount > allowance;
}
