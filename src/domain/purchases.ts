/**
 * How a one-time purchase is known across the events that tell about it.
 * Pure.
 *
 * A checkout that takes money names a PaymentIntent; a refund (charge.refunded)
 * knows only that PaymentIntent, so the purchase is keyed by it. A free
 * checkout has none and is keyed by its checkout session.
 */
export function purchaseKey(checkoutSessionId: string, paymentIntentId: string | null): string {
  return paymentIntentId ?? checkoutSessionId;
}
