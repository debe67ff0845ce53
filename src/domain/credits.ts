/**
 * Credits of metered features: prepaid units granted by an operator
 * (GrantCredits) or bought as a credit pack in a one-time checkout. Pure.
 * They are used after the period's allowance, earliest expiry first, then
 * the ones that never expire (docs/decisions.md, "Consumption order").
 */

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
