/** The event log: every event the sandbox emitted, newest first (`/v1/events`, `/v1/events/{id}`). */
import type Stripe from 'stripe';
import { noSuch } from '../api/errors.js';
import { LIST_PARAMS, listResponse } from '../api/paging.js';
import type { Account } from '../objects/account.js';
import type { RequestContext } from '../objects/context.js';
import {
  type EventObject,
  type EventPreviousAttributes,
  type EventType,
  makeEvent,
} from '../objects/stripe-objects.js';

export function recordEvent<T extends EventType>(
  account: Account,
  type: T,
  object: EventObject<T>,
  previous: EventPreviousAttributes<T> | undefined,
  created: number,
): Stripe.Event {
  const event = makeEvent({
    type,
    object,
    created,
    request: null,
    ...(previous === undefined ? {} : { previous_attributes: previous }),
  });
  account.events.put(event);
  return event;
}

export function retrieveEvent({ account, params, id }: RequestContext): Stripe.Event {
  params.allow(['expand']);
  const event = account.events.get(id);
  if (event === undefined) throw noSuch('event', id, 'id', 404);
  return event;
}

export function listEvents({ account, params }: RequestContext): Stripe.ApiList<Stripe.Event> {
  params.allow([...LIST_PARAMS, 'type', 'types', 'created', 'delivery_success']);
  const type = params.string('type');
  const types = params.strings('types');
  return listResponse(account.events, params, '/v1/events', 'event', (event) =>
    typeMatches(event.type, type, types),
  );
}

/** `type` may end in `*` (`invoice.*`), as Stripe allows. */
function typeMatches(actual: string, type: string | undefined, types: readonly string[]): boolean {
  if (type !== undefined) {
    return type.endsWith('*') ? actual.startsWith(type.slice(0, -1)) : actual === type;
  }
  return types.length === 0 || types.includes(actual);
}
