/** What every API route handler gets: the caller's account, its parameters, the clock and the event log. */
import type Stripe from 'stripe';
import type { Params } from '../api/form.js';
import type { Account } from './account.js';
import type { EventObject, EventPreviousAttributes, EventType } from './stripe-objects.js';

/** Records an event in the account's log and hands it to webhook delivery. */
export type EmitEvent = <T extends EventType>(
  account: Account,
  type: T,
  object: EventObject<T>,
  previous?: EventPreviousAttributes<T>,
) => Stripe.Event;

export interface RequestContext {
  readonly account: Account;
  readonly params: Params;
  /** The id captured from the URL (`/v1/customers/{id}`), else `''`. */
  readonly id: string;
  /** Sandbox time in Unix seconds (the test clock). */
  readonly now: number;
  readonly emit: EmitEvent;
  readonly pages: HostedPageUrls;
}

/** Where the hosted checkout and portal pages of a session are served. */
export interface HostedPageUrls {
  checkout(sessionId: string): string;
  portal(sessionId: string): string;
}

export type Handler = (context: RequestContext) => object;
