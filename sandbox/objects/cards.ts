/**
 * Stripe's test cards, as payment methods a customer can hold. The sandbox
 * takes Stripe's test payment method ids (`pm_card_visa`, ...) or a card
 * number itself, and decides each charge from the number.
 */
import { invalid } from '../api/errors.js';

export const TEST_CARDS = {
  /** Succeeds. */
  success: '4242424242424242',
  /** Every charge is declined (`card_declined`, `generic_decline`). */
  decline: '4000000000000002',
  /** Attaches and pays the first invoice, then every later charge fails (renewals). */
  failsLater: '4000000000000341',
  /** Completes later: the checkout payment is confirmed asynchronously. */
  asyncPayment: '4000000000000077',
} as const;

const PAYMENT_METHOD_IDS: Readonly<Record<string, string>> = {
  pm_card_visa: TEST_CARDS.success,
  pm_card_chargeDeclined: TEST_CARDS.decline,
  pm_card_chargeCustomerFail: TEST_CARDS.failsLater,
};

/** A card number from a payment method id or a number (spaces allowed). */
export function testCardNumber(value: string, param: string): string {
  const known = PAYMENT_METHOD_IDS[value];
  if (known !== undefined) return known;
  const digits = value.replaceAll(/[\s-]/g, '');
  if (/^\d{15,16}$/.test(digits)) return digits;
  throw invalid(`No such PaymentMethod: '${value}'`, param, 'resource_missing');
}

export type ChargeOutcome = 'succeeded' | 'declined';

/** Whether charging `card` succeeds; `renewal` is any charge after the first invoice. */
export function chargeOutcome(card: string | undefined, renewal: boolean): ChargeOutcome {
  if (card === TEST_CARDS.decline) return 'declined';
  if (card === TEST_CARDS.failsLater && renewal) return 'declined';
  return 'succeeded';
}
