/**
 * Sends one usage to a Stripe meter: `POST /v1/billing/meter_events`, with
 * our usage id as Stripe's `identifier`. Stripe refuses a second event with
 * an identifier it holds (for at least 24 hours) with a 400 "An event
 * already exists with identifier ..."; that answer means the event was
 * delivered before (a resend after a crash), so it is 'duplicate', not an
 * error.
 *
 * v1, one event per call, rather than the v2 meter event stream (100 per
 * call): stripe-mock serves no v2 endpoint (it answers "Unrecognized request
 * URL" for /v2/billing/meter_event_session and /v2/billing/meter_event_stream),
 * so only the v1 request shape can be checked against Stripe's API
 * description (docs/decisions.md, "Stripe meter events").
 */
import type Stripe from 'stripe';
import { meterEventTimestamp, meterEventValue } from '../domain/meter-events.js';

export interface MeterEventToSend {
  readonly eventName: string;
  /** Our usage id. */
  readonly identifier: string;
  readonly stripeCustomerId: string;
  readonly value: number;
  readonly occurredAt: Date;
}

export type MeterEventSent = 'accepted' | 'duplicate';

/** The part of the SDK client this needs (a project's `Stripe` client is one). */
export interface MeterEventsClient {
  readonly billing: {
    readonly meterEvents: {
      create(params: Stripe.Billing.MeterEventCreateParams): Promise<unknown>;
    };
  };
}

/** Throws the SDK's error for anything but acceptance or a duplicate. */
export async function sendMeterEvent(
  stripe: MeterEventsClient,
  event: MeterEventToSend,
): Promise<MeterEventSent> {
  try {
    await stripe.billing.meterEvents.create({
      event_name: event.eventName,
      identifier: event.identifier,
      payload: { stripe_customer_id: event.stripeCustomerId, value: meterEventValue(event.value) },
      timestamp: meterEventTimestamp(event.occurredAt),
    });
    return 'accepted';
  } catch (err) {
    if (isDuplicateIdentifier(err)) return 'duplicate';
    throw err;
  }
}

function isDuplicateIdentifier(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { type, message } = err as { type?: unknown; message?: unknown };
  return (
    type === 'StripeInvalidRequestError' &&
    typeof message === 'string' &&
    /already exists with identifier/i.test(message)
  );
}
