/**
 * Sandbox Stripe object builders: ids, timestamps and intervals as Stripe writes them.
 * Shaped on Stripe's fixtures and typed with the SDK's types (stripe-objects.ts).
 */
import { randomBytes } from 'node:crypto';
import type Stripe from 'stripe';

/** The API version that `stripe` 23.x pins and that events carry. */
export const STRIPE_API_VERSION = '2026-10-28.endive';

export const DAY = 86_400;
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A Stripe-looking id: `prefix` + `length` random base-62 characters. */
export function stripeId(prefix: string, length = 24): string {
  const bytes = randomBytes(length);
  let out = prefix;
  for (const byte of bytes) out += ALPHABET[byte % ALPHABET.length];
  return out;
}

/** Now, in Unix seconds (Stripe's unit for every timestamp). */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

export type Interval = Stripe.Price.Recurring.Interval;

/** `start` plus `count` intervals, with calendar months and years (UTC), like Stripe. */
export function addInterval(start: number, interval: Interval, count = 1): number {
  const date = new Date(start * 1000);
  switch (interval) {
    case 'day':
      return start + count * DAY;
    case 'week':
      return start + count * 7 * DAY;
    case 'month':
      date.setUTCMonth(date.getUTCMonth() + count);
      return Math.floor(date.getTime() / 1000);
    case 'year':
      date.setUTCFullYear(date.getUTCFullYear() + count);
      return Math.floor(date.getTime() / 1000);
    default:
      throw new Error(`unknown interval ${interval}`);
  }
}
