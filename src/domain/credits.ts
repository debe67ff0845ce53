/**
 * Credits of metered features: prepaid units granted by an operator
 * (GrantCredits) or bought as a credit pack in a one-time checkout. Pure.
 * They are used after the period's allowance, earliest expiry first, then
 * the ones that never expire (docs/decisions.md, "Consumption order").
 *
 * A pack lot is derived, never stored: one per (paid purchase, catalog id,
 * feature) whose catalog entry has a credit pack, with amount = amount per
 * unit x quantity, created when the purchase was paid, expiring that many
 * days later (0: never), ended when the purchase was refunded. Its id is
 * `<checkout session>:<catalog id>:<feature>`, the same on every replay.
 */
import type { Catalog } from './catalog.js';

/** One lot of credits: one grant, or one purchase of a credit-pack price. */
export interface CreditLotFacts {
  readonly id: string;
  readonly feature: string;
  readonly source: 'grant' | 'pack';
  /** What was granted or bought. */
  readonly amount: number;
  readonly createdAt: Date;
  /** Null: never expires. */
  readonly expiresAt: Date | null;
  /** When it was revoked (grants) or refunded (packs); null: it was not. */
  readonly endedAt: Date | null;
}

/** A one-time purchase as far as credit packs go. */
export interface PackPurchaseFacts {
  /** The Checkout session id. */
  readonly checkoutSessionId: string;
  /** When it was known paid; null: not paid (yet). */
  readonly paidAt: Date | null;
  /** When it was known fully refunded; null: not refunded. */
  readonly refundedAt: Date | null;
  readonly items: readonly {
    readonly priceId: string;
    readonly productId: string;
    readonly quantity: number;
  }[];
}

const dayMs = 24 * 3600 * 1000;

/** Granted lots are crd_...; pack lots name their checkout session (cs_...). */
const packLotIdPattern = /^cs_[A-Za-z0-9_]+:(price|prod)_[A-Za-z0-9_]+:[A-Za-z0-9_.:-]+$/;

export function isPackLotId(id: string): boolean {
  return packLotIdPattern.test(id);
}

export function packLotId(checkoutSessionId: string, catalogId: string, feature: string): string {
  return `${checkoutSessionId}:${catalogId}:${feature}`;
}

/** The lots the paid purchases give through the catalog's credit packs, refunded ones included. */
export function packLots(
  purchases: readonly PackPurchaseFacts[],
  catalog: Catalog,
): CreditLotFacts[] {
  return purchases.flatMap((purchase) => lotsOfPurchase(purchase, catalog));
}

function lotsOfPurchase(purchase: PackPurchaseFacts, catalog: Catalog): CreditLotFacts[] {
  const paidAt = purchase.paidAt;
  if (paidAt === null) return [];
  // Two line items of one price add up to one lot.
  const lots = new Map<string, CreditLotFacts>();
  for (const item of purchase.items) {
    for (const catalogId of [item.priceId, item.productId]) {
      for (const feature of catalog.get(catalogId) ?? []) {
        const pack = feature.kind === 'metered' ? feature.creditPack : undefined;
        if (!pack) continue;
        const id = packLotId(purchase.checkoutSessionId, catalogId, feature.feature);
        const amount = pack.amountPerUnit * Math.max(item.quantity, 0);
        const before = lots.get(id);
        lots.set(id, {
          id,
          feature: feature.feature,
          source: 'pack',
          amount: (before?.amount ?? 0) + amount,
          createdAt: paidAt,
          expiresAt:
            pack.expiresAfterDays === 0
              ? null
              : new Date(paidAt.getTime() + pack.expiresAfterDays * dayMs),
          endedAt: purchase.refundedAt,
        });
      }
    }
  }
  return [...lots.values()];
}

/** Neither revoked nor refunded, and not expired at `now`: the lot can still be used. */
export function isLotActive(lot: CreditLotFacts, now: Date): boolean {
  if (lot.endedAt !== null) return false;
  return lot.expiresAt === null || lot.expiresAt.getTime() > now.getTime();
}

/** The lots the engine counts as sources: active, of a feature the catalog meters. */
export function usableCreditLots(
  lots: readonly CreditLotFacts[],
  catalog: Catalog,
  now: Date,
): CreditLotFacts[] {
  const metered = new Set<string>();
  for (const features of catalog.values())
    for (const f of features) if (f.kind === 'metered') metered.add(f.feature);
  return lots.filter((lot) => metered.has(lot.feature) && isLotActive(lot, now));
}

/** What is left of a lot that `used` units were taken from; 0 once it ended or expired. */
export function remainingOf(lot: CreditLotFacts, used: number, now: Date): number {
  return isLotActive(lot, now) ? Math.max(0, lot.amount - used) : 0;
}

/** A lot as operators see it (ListCredits): its facts, what is left, and who granted or ended it. */
export interface CreditLotView {
  readonly lot: CreditLotFacts;
  readonly customerId: string;
  readonly remaining: number;
  /** Grants: the operator's reason and key id; empty for packs. */
  readonly reason: string;
  readonly actor: string;
  /** Grants: who revoked it and why; packs: empty (ended by a refund). */
  readonly revokedBy: string;
  readonly revokeReason: string;
}
