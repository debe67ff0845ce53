/**
 * The entitlement engine: which features a customer has right now, why, and
 * until when. Pure: everything it needs comes in as parameters, including
 * the clock.
 *
 * A customer has feature F when any source gives it:
 * 1. a subscription that is active or trialing (a trial until trial_end), or
 *    past_due within the project's grace period (counted from when it became
 *    past_due), holding a price or product
 *    mapped to F; cancel_at_period_end keeps it until the period ends;
 * 2. a paid, not refunded one-time purchase mapped to F;
 * 3. a manual grant of F, not revoked and not expired;
 * 4. metered F only: a credit lot of F (granted or bought as a credit pack),
 *    not revoked, refunded or expired, even when nothing of it is left (the
 *    balance then says 0). A credit pack's catalog entry gives credits only:
 *    no subscription or purchase source, so no period allowance.
 */

import type { Catalog, CatalogFeature } from './catalog.js';
import { type CreditLotFacts, usableCreditLots } from './credits.js';
import { type Denial, type DenialReasonName, denialsOf } from './denial-reasons.js';
import { earliest, subscriptionValidity } from './subscription-validity.js';

export interface LineItemFacts {
  readonly priceId: string;
  readonly productId: string;
  readonly quantity: number;
}

export interface SubscriptionItemFacts extends LineItemFacts {
  readonly currentPeriodStart: Date | null;
  readonly currentPeriodEnd: Date | null;
}

export interface SubscriptionFacts {
  readonly id: string;
  /** Stripe's status: active, trialing, past_due, canceled, unpaid, incomplete, ... */
  readonly status: string;
  readonly items: readonly SubscriptionItemFacts[];
  readonly cancelAtPeriodEnd: boolean;
  /** A scheduled cancellation time, when Stripe has one. */
  readonly cancelAt: Date | null;
  readonly trialEnd: Date | null;
  /**
   * When the subscription became past_due (see `pastDueSince` in
   * past-due.ts); null when it is not past_due, or not known.
   */
  readonly pastDueSince: Date | null;
}

export interface PurchaseFacts {
  /** The Checkout session id. */
  readonly id: string;
  readonly paid: boolean;
  readonly refunded: boolean;
  readonly items: readonly LineItemFacts[];
}

export interface GrantFacts {
  readonly id: string;
  readonly feature: string;
  readonly limit: number | null;
  readonly expiresAt: Date | null;
  readonly revokedAt: Date | null;
}

export interface EntitlementInputs {
  readonly catalog: Catalog;
  readonly gracePeriodSeconds: number;
  readonly subscriptions: readonly SubscriptionFacts[];
  readonly purchases: readonly PurchaseFacts[];
  readonly grants: readonly GrantFacts[];
  /** Credit lots of metered features (granted or bought), ended ones included. */
  readonly credits: readonly CreditLotFacts[];
  readonly now: Date;
}

export type SourceKind = 'subscription' | 'purchase' | 'grant' | 'credits';

export interface EntitlementSource {
  readonly kind: SourceKind;
  readonly id: string;
  readonly limit: number | null;
  /** When this source stops giving the feature without a new event; null: not by itself. */
  readonly validUntil: Date | null;
  /** Subscriptions: Stripe's status. */
  readonly status: string | null;
  /** Subscriptions and purchases: the catalog key (price or product id) that matched. */
  readonly catalogId: string | null;
}

export interface Entitlement {
  readonly feature: string;
  readonly allowed: boolean;
  /** The largest limit of all sources; null: unlimited (or not allowed). */
  readonly limit: number | null;
  readonly sources: readonly EntitlementSource[];
  /** The earliest time this answer can change without a new event. */
  readonly validUntil: Date | null;
  /** Why it is not allowed (entitlementFor); absent when allowed. */
  readonly denialReason?: DenialReasonName;
  /** Metered features only (usage-balance.ts): the current period's usage and balance. */
  readonly metered?: MeteredStanding;
}

/** A metered feature's standing in its current period. */
export interface MeteredStanding {
  readonly usage: number;
  /** Allowance left + credits left − reserved, never below 0; null: unlimited. */
  readonly balance: number | null;
  /** Held by open reservations (already out of `balance`). */
  readonly reserved: number;
  /** Remaining usable credits (in `balance`). */
  readonly credits: number;
  /** The current period's end. */
  readonly resetsAt: Date;
  readonly overage: 'block' | 'allow';
}

export interface EntitlementSet {
  /** Allowed features only, sorted by feature. */
  readonly entitlements: readonly Entitlement[];
  readonly validUntil: Date | null;
  /**
   * The project's known features (catalog, this customer's grants) that are
   * not allowed, with why, sorted by feature. Absent in sets cached before
   * denial reasons existed.
   */
  readonly denials?: readonly Denial[];
  /**
   * The customer's version this set was read at (it grows with every change
   * of the customer or the catalog; docs/decisions.md, "Entitlement
   * versions"). Given by the lookup, never by the engine; absent: not known.
   */
  readonly version?: number;
}

export function computeEntitlements(inputs: EntitlementInputs): EntitlementSet {
  const byFeature = new Map<string, EntitlementSource[]>();
  const add = (feature: string, source: EntitlementSource) => {
    const sources = byFeature.get(feature);
    if (sources) sources.push(source);
    else byFeature.set(feature, [source]);
  };
  for (const subscription of inputs.subscriptions) {
    for (const [feature, source] of subscriptionSources(subscription, inputs)) add(feature, source);
  }
  for (const purchase of inputs.purchases) {
    for (const [feature, source] of purchaseSources(purchase, inputs.catalog)) add(feature, source);
  }
  for (const grant of inputs.grants) {
    const source = grantSource(grant, inputs.now);
    if (source) add(grant.feature, source);
  }
  for (const lot of usableCreditLots(inputs.credits, inputs.catalog, inputs.now)) {
    // Even a used-up lot gives the feature: the ledger's balance then says 0.
    add(lot.feature, {
      kind: 'credits',
      id: lot.id,
      limit: null,
      validUntil: lot.expiresAt,
      status: null,
      catalogId: null,
    });
  }
  const entitlements = [...byFeature.entries()]
    .map(([feature, sources]) => combine(feature, sources))
    .sort((a, b) => (a.feature < b.feature ? -1 : a.feature > b.feature ? 1 : 0));
  return {
    entitlements,
    validUntil: earliest(entitlements.map((e) => e.validUntil)),
    denials: denialsOf(inputs, byFeature),
  };
}

/** The answer for one feature: not allowed, with why, when no source gives it. */
export function entitlementFor(set: EntitlementSet, feature: string): Entitlement {
  return (
    set.entitlements.find((e) => e.feature === feature) ?? {
      feature,
      allowed: false,
      limit: null,
      sources: [],
      // Nothing becomes allowed by the passing of time alone.
      validUntil: null,
      denialReason: denialReasonOf(set.denials, feature),
    }
  );
}

function denialReasonOf(denials: readonly Denial[] | undefined, feature: string): DenialReasonName {
  // A set cached before denial reasons cannot tell an unknown feature apart.
  if (!denials) return 'no_source';
  return denials.find((d) => d.feature === feature)?.reason ?? 'unknown_feature';
}

function subscriptionSources(
  subscription: SubscriptionFacts,
  inputs: EntitlementInputs,
): Array<[string, EntitlementSource]> {
  const validity = subscriptionValidity(subscription, inputs.gracePeriodSeconds, inputs.now);
  if (!validity) return [];
  return subscription.items.flatMap((item) =>
    catalogFeatures(inputs.catalog, item).map(
      ({ catalogId, feature }): [string, EntitlementSource] => [
        feature.feature,
        {
          kind: 'subscription',
          id: subscription.id,
          limit: itemLimit(feature, item.quantity),
          validUntil: validity.validUntil,
          status: subscription.status,
          catalogId,
        },
      ],
    ),
  );
}

function purchaseSources(
  purchase: PurchaseFacts,
  catalog: Catalog,
): Array<[string, EntitlementSource]> {
  if (!purchase.paid || purchase.refunded) return [];
  return purchase.items.flatMap((item) =>
    catalogFeatures(catalog, item).map(({ catalogId, feature }): [string, EntitlementSource] => [
      feature.feature,
      {
        kind: 'purchase',
        id: purchase.id,
        limit: itemLimit(feature, item.quantity),
        validUntil: null,
        status: null,
        catalogId,
      },
    ]),
  );
}

function grantSource(grant: GrantFacts, now: Date): EntitlementSource | undefined {
  if (grant.revokedAt !== null) return undefined;
  if (grant.expiresAt !== null && grant.expiresAt.getTime() <= now.getTime()) return undefined;
  return {
    kind: 'grant',
    id: grant.id,
    limit: grant.limit,
    validUntil: grant.expiresAt,
    status: null,
    catalogId: null,
  };
}

/** A line item's features, by its price id and by its product id (credit packs give lots instead). */
function catalogFeatures(
  catalog: Catalog,
  item: LineItemFacts,
): Array<{ catalogId: string; feature: CatalogFeature }> {
  return [item.priceId, item.productId].flatMap((catalogId) =>
    (catalog.get(catalogId) ?? [])
      .filter((feature) => !feature.creditPack)
      .map((feature) => ({ catalogId, feature })),
  );
}

function itemLimit(feature: CatalogFeature, quantity: number): number | null {
  if (feature.limit === null) return null;
  return feature.limitPerUnit ? feature.limit * Math.max(quantity, 0) : feature.limit;
}

function combine(feature: string, sources: readonly EntitlementSource[]): Entitlement {
  return {
    feature,
    allowed: true,
    limit: largestLimit(sources),
    sources,
    // Any source ending changes the answer (its limit or its list of sources).
    validUntil: earliest(sources.map((s) => s.validUntil)),
  };
}

/** Unlimited (null) beats any number. */
function largestLimit(sources: readonly EntitlementSource[]): number | null {
  let largest = 0;
  for (const source of sources) {
    if (source.limit === null) return null;
    largest = Math.max(largest, source.limit);
  }
  return largest;
}
