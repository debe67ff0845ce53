/**
 * Webhook delivery as Stripe does it: each event is POSTed to every enabled
 * endpoint that wants its type, signed (`Stripe-Signature: t=...,v1=...`,
 * HMAC-SHA256 of `t.body` under the endpoint's secret, `t` in real time so
 * the receiver's tolerance check passes after the test clock moved); a
 * non-2xx answer or a network error is retried after 1 m, 5 m, 30 m, 2 h,
 * 5 h, then every 10 h, for at most 12 attempts. `retryDelayScale` shrinks
 * those delays (tests). Switches: `duplicates` sends every event twice,
 * `reorder` sends the events of one batch (those emitted by one request or
 * clock step) newest first.
 */
import { createHmac } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type Stripe from 'stripe';
import type { Account } from '../objects/account.js';
import { wants } from './endpoints.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
/** Delay before attempt n+2 (index n); the last repeats. */
export const RETRY_DELAYS_MS: readonly number[] = [
  MINUTE_MS,
  5 * MINUTE_MS,
  30 * MINUTE_MS,
  2 * HOUR_MS,
  5 * HOUR_MS,
  10 * HOUR_MS,
];
export const MAX_ATTEMPTS = 12;
const TIMEOUT_MS = 10_000;

export interface DeliverySwitches {
  duplicates: boolean;
  reorder: boolean;
}

export interface DeliveryAttempt {
  readonly eventId: string;
  readonly eventType: string;
  readonly endpointId: string;
  readonly url: string;
  /** 1 for the first. */
  readonly attempt: number;
  /** The HTTP status answered; 0 when the request failed (refused, timed out). */
  readonly status: number;
  readonly error: string | null;
  /** Real time of the attempt (ms). */
  readonly at: number;
  /** When the next attempt is due (ms), null when this one succeeded or was the last. */
  readonly nextAttemptAt: number | null;
}

export interface DeliveryOptions {
  /** Multiplies every retry delay (1: Stripe's; 0.001: 60 ms for the first). Default 1. */
  readonly retryDelayScale?: number;
}

interface PendingDelivery {
  readonly event: Stripe.Event;
  readonly endpoint: Stripe.WebhookEndpoint;
  readonly secret: string;
  readonly attempt: number;
}

/** `t=...,v1=...` for `body`, as Stripe signs it. */
export function signatureHeader(body: string, secret: string, timestamp: number): string {
  const v1 = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${v1}`;
}

export class WebhookDelivery {
  readonly switches: DeliverySwitches = { duplicates: false, reorder: false };
  /** Every attempt, oldest first. */
  readonly attempts: DeliveryAttempt[] = [];
  /** `attempt` (DeliveryAttempt) after each attempt; `idle` when nothing is pending. */
  readonly signals = new EventEmitter();
  private readonly timers = new Set<NodeJS.Timeout>();
  private inFlight = 0;
  private batch: PendingDelivery[] = [];
  private closed = false;
  private readonly scale: number;

  constructor(options: DeliveryOptions = {}) {
    this.scale = options.retryDelayScale ?? 1;
  }

  /** Queues the event for every endpoint of the account that wants it; sent with its batch. */
  enqueue(account: Account, event: Stripe.Event): void {
    for (const endpoint of account.webhookEndpoints.values()) {
      const secret = account.endpointSecrets.get(endpoint.id);
      if (secret === undefined || !wants(endpoint, event.type)) continue;
      const delivery = { event, endpoint, secret, attempt: 1 };
      this.batch.push(delivery);
      if (this.switches.duplicates) this.batch.push(delivery);
    }
  }

  /** Sends the queued batch (in order, or newest first when `reorder` is on). */
  flush(): void {
    const batch = this.switches.reorder ? [...this.batch].reverse() : this.batch;
    this.batch = [];
    // One after another, so the order on the wire is the batch's order.
    let chain = Promise.resolve();
    for (const delivery of batch) {
      this.inFlight += 1;
      chain = chain.then(() => this.send(delivery));
    }
  }

  /** Pending deliveries: in flight or waiting for a retry. */
  get pending(): number {
    return this.inFlight + this.timers.size + this.batch.length;
  }

  /** Resolves when nothing is in flight or waiting for a retry. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.signals.once('idle', () => resolve()));
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private async send(delivery: PendingDelivery): Promise<void> {
    const { event, endpoint, secret, attempt } = delivery;
    const body = JSON.stringify(event);
    const timestamp = Math.floor(Date.now() / 1000);
    let status = 0;
    let error: string | null = null;
    try {
      const response = await fetch(endpoint.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
          'stripe-signature': signatureHeader(body, secret, timestamp),
        },
        body,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      status = response.status;
      await response.arrayBuffer();
    } catch (failure) {
      error = failure instanceof Error ? failure.message : String(failure);
    }
    const ok = status >= 200 && status < 300;
    const delay = RETRY_DELAYS_MS[Math.min(attempt - 1, RETRY_DELAYS_MS.length - 1)] ?? HOUR_MS;
    const retry = !ok && attempt < MAX_ATTEMPTS && !this.closed;
    const at = Date.now();
    const record: DeliveryAttempt = {
      eventId: event.id,
      eventType: event.type,
      endpointId: endpoint.id,
      url: endpoint.url,
      attempt,
      status,
      error,
      at,
      nextAttemptAt: retry ? at + delay * this.scale : null,
    };
    this.attempts.push(record);
    if (retry) this.retryLater({ ...delivery, attempt: attempt + 1 }, delay * this.scale);
    this.inFlight -= 1;
    this.signals.emit('attempt', record);
    if (this.pending === 0) this.signals.emit('idle');
  }

  private retryLater(delivery: PendingDelivery, delayMs: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.inFlight += 1;
      void this.send(delivery);
    }, delayMs);
    this.timers.add(timer);
  }
}
