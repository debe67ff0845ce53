/** Billing meter events (v1): one per `identifier` for 24 hours (a second
 * one is refused with Stripe's 400), checked as Stripe checks them at once. */
import type Stripe from 'stripe';
import { invalid, missingParam } from '../api/errors.js';
import type { Params } from '../api/form.js';
import type { RequestContext } from './context.js';
import { stripeId } from './stripe-objects.js';

/** How long Stripe refuses a second event with the same identifier. */
export const METER_IDENTIFIER_WINDOW_SECONDS = 24 * 3600;
export const METER_MAX_AGE_SECONDS = 35 * 86_400;
export const METER_MAX_AHEAD_SECONDS = 300;

export function createMeterEvent({
  account,
  params,
  now,
}: RequestContext): Stripe.Billing.MeterEvent {
  params.allow(['event_name', 'payload', 'identifier', 'timestamp', 'expand']);
  const eventName = params.required('event_name');
  if (eventName.length > 100) throw invalid('event_name is too long (max 100).', 'event_name');
  const payload = params.object('payload');
  if (payload === undefined) throw missingParam('payload');
  const customer = payload.required('stripe_customer_id');
  const value = payload.required('value');
  if (!/^-?\d+$/.test(value)) {
    throw invalid(`Invalid value: ${value} is not a number.`, payload.name('value'));
  }
  // Checked against the clock, the time the periods are in: a service on it sends clock times.
  const timestamp = params.integer('timestamp') ?? now;
  if (timestamp < now - METER_MAX_AGE_SECONDS) {
    throw invalid('Timestamp must be within the past 35 calendar days.', 'timestamp');
  }
  if (timestamp > now + METER_MAX_AHEAD_SECONDS) {
    throw invalid('Timestamp must not be more than 5 minutes in the future.', 'timestamp');
  }
  const identifier = params.string('identifier') ?? stripeId('mev_');
  if (identifier.length > 100) throw invalid('identifier is too long (max 100).', 'identifier');
  const seen = account.meterEvents.get(identifier);
  if (seen !== undefined && seen.created > now - METER_IDENTIFIER_WINDOW_SECONDS) {
    throw invalid(`An event already exists with identifier ${identifier}.`, 'identifier');
  }
  const event: Stripe.Billing.MeterEvent = {
    object: 'billing.meter_event',
    created: now,
    event_name: eventName,
    identifier,
    livemode: false,
    payload: meterPayload(payload, { stripe_customer_id: customer, value }),
    timestamp,
  };
  account.meterEvents.delete(identifier);
  account.meterEvents.set(identifier, event);
  return event;
}

/** The payload's keys, each a string as Stripe requires. */
export function meterPayload(
  payload: Params,
  checked: Record<string, string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(payload.values)) {
    const value = payload.string(key);
    if (value !== undefined) out[key] = value;
  }
  return { ...out, ...checked };
}
