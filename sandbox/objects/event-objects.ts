/**
 * Sandbox Stripe object builders: events and signed webhook deliveries.
 * Shaped on Stripe's fixtures and typed with the SDK's types (stripe-objects.ts).
 */
import Stripe from 'stripe';
import { nowSeconds, STRIPE_API_VERSION, stripeId } from './stripe-values.js';
import { makeSubscription } from './subscription-objects.js';

export type EventType = Stripe.Event['type'];
/** The member of the `Stripe.Event` union with type `T`. */
export type EventOf<T extends EventType> = Extract<Stripe.Event, { type: T }>;
export type EventObject<T extends EventType> = EventOf<T>['data']['object'];
export type EventPreviousAttributes<T extends EventType> = NonNullable<
  EventOf<T>['data']['previous_attributes']
>;

export interface EventSpec<T extends EventType> {
  readonly id?: string;
  readonly type: T;
  /** Default: now. Stripe orders nothing; `created` is the only clock an event carries. */
  readonly created?: number;
  readonly object: EventObject<T>;
  /** For `*.updated` events: the changed fields with their old values. */
  readonly previous_attributes?: EventPreviousAttributes<T>;
  readonly api_version?: string | null;
  readonly pending_webhooks?: number;
  readonly request?: Stripe.Event.Request | null;
}

/**
 * A full `Stripe.Event` (fixture `resources.event`), typed by its `type`:
 * `makeEvent({ type: 'customer.subscription.updated', object: sub })` is a
 * `Stripe.CustomerSubscriptionUpdatedEvent`, and a wrong `object` is a compile error.
 */
export function makeEvent<T extends EventType>(spec: EventSpec<T>): EventOf<T> {
  const data: Stripe.Event.Data = { object: spec.object };
  if (spec.previous_attributes !== undefined) {
    data.previous_attributes = spec.previous_attributes;
  }
  const event: Stripe.EventBase = {
    id: spec.id ?? stripeId('evt_'),
    object: 'event',
    api_version: spec.api_version === undefined ? STRIPE_API_VERSION : spec.api_version,
    created: spec.created ?? nowSeconds(),
    data,
    livemode: false,
    pending_webhooks: spec.pending_webhooks ?? 1,
    request:
      spec.request === undefined
        ? { id: stripeId('req_', 14), idempotency_key: null }
        : spec.request,
    type: spec.type,
  };
  // `data` was built from EventObject<T> and EventPreviousAttributes<T>, and
  // `type` is T, so the event is the union member for T; TypeScript cannot
  // narrow a union by a generic discriminant on its own.
  return event as EventOf<T>;
}

export interface SignedWebhook {
  /** The raw request body, exactly as signed. */
  readonly body: string;
  /** The `Stripe-Signature` header value. */
  readonly header: string;
}

/**
 * Signs an event (or any raw payload, e.g. invalid JSON) as Stripe would for
 * the endpoint secret `secret` (`whsec_...`). `timestamp` (Unix seconds,
 * default now) lets a test send stale signatures.
 */
export function signedWebhook(
  event: Stripe.Event | string,
  secret: string,
  timestamp: number = nowSeconds(),
): SignedWebhook {
  const body = typeof event === 'string' ? event : JSON.stringify(event);
  const header = Stripe.webhooks.generateTestHeaderString({ payload: body, secret, timestamp });
  return { body, header };
}

/**
 * A `customer.subscription.created` event body (to be signed) whose subscription has
 * no items: the handler fails on it the same way every time, so the service
 * gives it up after its attempts (dead-letter tests). `customer` should be
 * the project's own, or the event is ignored before the handler runs.
 */
export function unappliableSubscriptionEvent(
  customer: string,
  subscriptionId: string,
): { readonly id: string; readonly body: string } {
  const event = makeEvent({
    type: 'customer.subscription.created',
    object: makeSubscription({ customer }),
  });
  const body = JSON.stringify({
    ...event,
    data: { object: { id: subscriptionId, object: 'subscription', customer } },
  });
  return { id: event.id, body };
}
