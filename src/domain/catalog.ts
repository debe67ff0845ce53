/**
 * The catalog: which features a Stripe price or product gives, of which
 * kind, with which limit or metered rules; and a project's catalog as it
 * stores it, to the engine's Catalog. Pure.
 */

export const FEATURE_KINDS = ['boolean', 'limit', 'metered'] as const;
export type FeatureKindName = (typeof FEATURE_KINDS)[number];

export const RESET_INTERVALS = ['billing_period', 'day', 'week', 'month', 'year'] as const;
export type ResetIntervalName = (typeof RESET_INTERVALS)[number];

export type OverageModeName = 'block' | 'allow';

/** How a metered feature's allowance is given, reset and overspent. */
export interface MeteredRules {
  /** Per period; per unit (seat) when allowancePerUnit. */
  readonly allowance: number;
  readonly allowancePerUnit: boolean;
  /** Resets anchored at the subscription start. */
  readonly reset: ResetIntervalName;
  readonly overage: OverageModeName;
  /** null: usage is not reported to Stripe. */
  readonly stripeMeterEventName: string | null;
}

export interface CatalogFeature {
  readonly feature: string;
  /** null: unlimited. */
  readonly limit: number | null;
  /** The limit is per unit: multiplied by the item's quantity (seats). */
  readonly limitPerUnit: boolean;
  readonly kind: FeatureKindName;
  /** Set for kind 'metered' only. */
  readonly metered: MeteredRules | null;
  /** Metered only: bought once, this entry gives credits, not a period allowance. Absent: not a pack. */
  readonly creditPack?: CreditPackRules;
}

/** What one unit of a credit pack gives (see credits.ts). */
export interface CreditPackRules {
  /** Credits per unit bought. */
  readonly amountPerUnit: number;
  /** Days after payment when the credits expire; 0: never. */
  readonly expiresAfterDays: number;
}

/** Stripe price id (price_...) or product id (prod_...) to the features it gives. */
export type Catalog = ReadonlyMap<string, readonly CatalogFeature[]>;

/** The stored shape of metered rules (MeteredFeatureRecord). */
export interface StoredMeteredFeature {
  readonly allowance: number;
  readonly allowance_per_unit: boolean;
  readonly reset: ResetIntervalName;
  readonly overage: OverageModeName;
  readonly stripe_meter_event_name: string | null;
}

/** The stored shape of a credit pack (CreditPackRecord). */
export interface StoredCreditPack {
  readonly amount_per_unit: number;
  readonly expires_after_days: number;
}

/** One feature of a catalog entry in the stored shape (CatalogFeatureRecord). */
export interface StoredCatalogFeature {
  readonly feature: string;
  readonly limit: number | null;
  readonly limit_per_unit: boolean;
  /** Absent in catalogs stored before feature kinds existed. */
  readonly kind?: FeatureKindName;
  readonly metered?: StoredMeteredFeature | null;
  /** Absent or null: not a credit pack. */
  readonly credit_pack?: StoredCreditPack | null;
}

/** One catalog entry in the stored shape (CatalogEntryDoc). */
export interface StoredCatalogEntry {
  /** A Stripe price (price_...) or product (prod_...) id. */
  readonly stripe_id: string;
  readonly features: readonly StoredCatalogFeature[];
}

/**
 * A stored feature's kind. Catalogs stored before kinds existed have none:
 * a feature with a limit was a limit, one without was a boolean.
 */
export function featureKindOf(
  stored: Pick<StoredCatalogFeature, 'kind' | 'limit'>,
): FeatureKindName {
  return stored.kind ?? (stored.limit === null ? 'boolean' : 'limit');
}

/**
 * The features that are a limit on one price and have no limit on another
 * (kinds left unspecified, or a catalog from before kinds): one limit
 * feature, unlimited where no limit is given. Their boolean entries are
 * answered and stored as limits, so a catalog read with GetCatalog can be
 * written back as it is (two named kinds that differ are refused).
 * Checks are the same either way: a missing limit is unlimited.
 */
export function mixedLimitFeatures(
  entries: readonly {
    readonly features: readonly Pick<StoredCatalogFeature, 'feature' | 'kind' | 'limit'>[];
  }[],
): Set<string> {
  const kinds = new Map<string, Set<FeatureKindName>>();
  for (const entry of entries)
    for (const feature of entry.features) {
      const seen = kinds.get(feature.feature) ?? new Set<FeatureKindName>();
      kinds.set(feature.feature, seen.add(featureKindOf(feature)));
    }
  return new Set(
    [...kinds].filter(([, seen]) => seen.has('limit') && seen.has('boolean')).map(([name]) => name),
  );
}

export function meteredRulesOf(stored: StoredMeteredFeature): MeteredRules {
  return {
    allowance: stored.allowance,
    allowancePerUnit: stored.allowance_per_unit,
    reset: stored.reset,
    overage: stored.overage,
    stripeMeterEventName: stored.stripe_meter_event_name,
  };
}

/** A stored feature as the engine reads it. */
export function catalogFeatureOf(stored: StoredCatalogFeature): CatalogFeature {
  const kind = featureKindOf(stored);
  const pack = kind === 'metered' ? stored.credit_pack : null;
  return {
    feature: stored.feature,
    limit: stored.limit,
    limitPerUnit: stored.limit_per_unit,
    kind,
    metered: kind === 'metered' && stored.metered ? meteredRulesOf(stored.metered) : null,
    ...(pack
      ? {
          creditPack: {
            amountPerUnit: pack.amount_per_unit,
            expiresAfterDays: pack.expires_after_days,
          },
        }
      : {}),
  };
}

/** The engine's catalog; of two entries for one Stripe id, the later one counts. */
export function catalogFromEntries(entries: readonly StoredCatalogEntry[]): Catalog {
  const catalog = new Map<string, readonly CatalogFeature[]>();
  for (const entry of entries) catalog.set(entry.stripe_id, entry.features.map(catalogFeatureOf));
  return catalog;
}

/** Whether any entry gives a metered feature: only those draw on credits (credits.ts). */
export function hasMeteredFeature(catalog: Catalog): boolean {
  for (const features of catalog.values()) {
    if (features.some((feature) => feature.kind === 'metered')) return true;
  }
  return false;
}
