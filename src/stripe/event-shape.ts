/**
 * What a verified webhook body must look like before anything is stored.
 * The Stripe SDK checks the signature and that the signed time is not stale,
 * then returns whatever JSON was signed: `[]`, `{}` or an event from the
 * future all pass it. These checks are pure so they are tested without I/O.
 */
import type Stripe from 'stripe';
import { eventIdPattern } from '../domain/records.js';

/** Why a signed body is not a Stripe event, or undefined when it is one. */
export function notAnEventReason(value: unknown): string | undefined {
  if (!isRecord(value)) return 'the body is not a JSON object';
  if (!isPrintableId(value.id)) return 'id must be a string of printable characters';
  if (!isPrintableId(value.type)) return 'type must be a string of printable characters';
  if (typeof value.created !== 'number' || !Number.isSafeInteger(value.created)) {
    return 'created must be a Unix time in seconds';
  }
  if (!isRecord(value.data) || !isRecord(value.data.object)) return 'data.object must be an object';
  return undefined;
}

export function isStripeEvent(value: unknown): value is Stripe.Event {
  return notAnEventReason(value) === undefined;
}

/**
 * Stripe's tolerance bounds a signature's age, not how far ahead it is: a
 * signed time or event time beyond the tolerance in the future is refused.
 * Signatures are made in real time; an event's `created` is business time
 * (ahead of it under a test clock, see src/domain/business-clock.ts).
 */
export function futureTimeReason(
  event: Pick<Stripe.Event, 'created'>,
  signatureHeader: string,
  now: { readonly wall: Date; readonly business: Date },
  toleranceSeconds: number,
): string | undefined {
  const latestOf = (time: Date) => Math.floor(time.getTime() / 1000) + toleranceSeconds;
  const signedAt = signedTimestamp(signatureHeader);
  if (signedAt === undefined || signedAt > latestOf(now.wall)) {
    return 'the signature time is in the future';
  }
  if (event.created > latestOf(now.business)) return 'the event time is in the future';
  return undefined;
}

/** The `t=` of a Stripe-Signature header (the SDK has already checked it is there). */
function signedTimestamp(header: string): number | undefined {
  for (const part of header.split(',')) {
    const [key, value] = part.split('=', 2);
    if (key?.trim() === 't' && value !== undefined && /^\d{1,15}$/.test(value.trim())) {
      return Number(value.trim());
    }
  }
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isPrintableId(value: unknown): value is string {
  return typeof value === 'string' && eventIdPattern.test(value);
}
