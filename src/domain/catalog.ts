/**
 * A project's catalog as it stores it, to the engine's Catalog
 * (domain/entitlements.ts). Pure.
 */
import type { Catalog, CatalogFeature } from './entitlements.js';

/** One catalog entry in the stored shape (CatalogEntryDoc). */
export interface StoredCatalogEntry {
  /** A Stripe price (price_...) or product (prod_...) id. */
  readonly stripe_id: string;
  readonly features: readonly {
    readonly feature: string;
    readonly limit: number | null;
    readonly limit_per_unit: boolean;
  }[];
}

/** The engine's catalog; of two entries for one Stripe id, the later one counts. */
export function catalogFromEntries(entries: readonly StoredCatalogEntry[]): Catalog {
  const catalog = new Map<string, readonly CatalogFeature[]>();
  for (const entry of entries) {
    catalog.set(
      entry.stripe_id,
      entry.features.map((f) => ({
        feature: f.feature,
        limit: f.limit,
        limitPerUnit: f.limit_per_unit,
      })),
    );
  }
  return catalog;
}
