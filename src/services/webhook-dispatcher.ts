/**
 * Sends the pending deliveries of outbound events (webhook-delivery-store.ts),
 * at least once each, in order per (endpoint, customer):
 *
 * - a scan reads each endpoint's pending deliveries in order and groups
 *   them by customer; a group's first delivery is sent only when due, and
 *   the next only after it succeeded, so a customer's events arrive in the
 *   order of their versions (a failure holds the group back until its
 *   retry; the others go on);
 * - groups run concurrently, at most `concurrency` at once and
 *   `perEndpoint` per endpoint, so a slow or dead endpoint holds up only
 *   itself;
 * - every attempt is first claimed (an insert with a unique id): a replica
 *   that read the same delivery finds the claim and leaves it, so each
 *   attempt is made once across replicas. A claim whose sender died is
 *   freed after `staleAfterMs`;
 * - a failed attempt is retried with a doubling, jittered wait until the
 *   delivery's window (3 days by default) ends; then it is failed, and
 *   ReplayWebhookDelivery can queue it again.
 *
 * Scans run when an event was queued on this replica (`kick`), when a
 * group finished, at the nearest retry (a timer) and from the Agenda job
 * `webhooks.deliver` (every replica's backstop, and what resumes the work
 * of a replica that stopped).
 */

import {
  nextDeliveryAttemptAt,
  signatureHeader,
  type WebhookRetryPolicy,
} from '../domain/outbound-webhooks.js';
import type { WebhookEndpointRecord } from '../domain/records.js';
import type { Logger } from '../logger.js';
import type { OutboundEventDoc, OutboundEventStore } from '../store/outbound-event-store.js';
import type {
  AttemptResult,
  WebhookDeliveryStore,
  WebhookOutboxDoc,
} from '../store/webhook-delivery-store.js';
import type { WebhookEndpointStore } from '../store/webhook-endpoint-store.js';

/** One POST to an endpoint (the WebhookSender in src/outbound/). */
export interface WebhookTransport {
  post(request: {
    readonly url: string;
    readonly body: string;
    readonly headers: Readonly<Record<string, string>>;
    readonly signal?: AbortSignal;
  }): Promise<{ readonly statusCode: number; readonly error: string; readonly durationMs: number }>;
}

export type DeliveryOutcome = 'succeeded' | 'failed' | 'given_up';

export interface WebhookDispatcherObserver {
  onAttempt?(outcome: DeliveryOutcome, seconds: number): void;
}

export interface WebhookDispatcherDeps {
  readonly deliveries: Pick<
    WebhookDeliveryStore,
    | 'endpointsWithPending'
    | 'pendingOf'
    | 'claimAttempt'
    | 'recoverAttempt'
    | 'succeeded'
    | 'failed'
  >;
  readonly events: Pick<OutboundEventStore, 'get'>;
  readonly endpoints: Pick<WebhookEndpointStore, 'get'>;
  readonly transport: WebhookTransport;
  readonly retry: WebhookRetryPolicy;
  /** Groups sending at once, in all. */
  readonly concurrency: number;
  /** Groups sending at once to one endpoint. */
  readonly perEndpoint: number;
  /** Pending deliveries read per endpoint and scan. */
  readonly readPerEndpoint: number;
  /** A claimed attempt not finished after this long: its sender died. */
  readonly staleAfterMs: number;
  /** Names this replica on its claims. */
  readonly owner: string;
  readonly logger: Logger;
  readonly observer?: WebhookDispatcherObserver;
  readonly now?: () => Date;
  readonly random?: () => number;
}

/** The longest a retry timer waits (the job's scans cover anything later). */
const maxTimerMs = 60_000;

export class WebhookDispatcher {
  private readonly now: () => Date;
  private readonly random: () => number;
  private readonly groups = new Map<string, Promise<void>>();
  private readonly sendingTo = new Map<string, number>();
  private readonly stopping = new AbortController();
  private scanning: Promise<void> | undefined;
  private scanAgain = false;
  private timer: { at: number; handle: NodeJS.Timeout } | undefined;

  constructor(private readonly deps: WebhookDispatcherDeps) {
    this.now = deps.now ?? (() => new Date());
    this.random = deps.random ?? Math.random;
  }

  /** A scan soon (coalesced: one runs at a time, and once more if asked meanwhile). */
  kick(): void {
    void this.scan();
  }

  /** Resolves when a scan that started after this call has started every due group. */
  scan(): Promise<void> {
    if (this.stopping.signal.aborted) return Promise.resolve();
    if (this.scanning) {
      this.scanAgain = true;
      return this.scanning;
    }
    const scanning = (async () => {
      do {
        this.scanAgain = false;
        await this.scanOnce();
      } while (this.scanAgain && !this.stopping.signal.aborted);
    })()
      .catch((error: unknown) => this.deps.logger.warn('webhook scan failed', { error }))
      .finally(() => {
        this.scanning = undefined;
      });
    this.scanning = scanning;
    return scanning;
  }

  /** Stops scanning; attempts in flight are aborted and recorded, then it resolves. */
  async stop(): Promise<void> {
    this.stopping.abort();
    if (this.timer) clearTimeout(this.timer.handle);
    await this.scanning;
    await Promise.allSettled([...this.groups.values()]);
  }

  private async scanOnce(): Promise<void> {
    const now = this.now();
    for (const endpointId of await this.deps.deliveries.endpointsWithPending()) {
      const pending = await this.deps.deliveries.pendingOf(endpointId, this.deps.readPerEndpoint);
      for (const [key, group] of groupsByCustomer(pending)) {
        const head = group[0];
        if (head === undefined || this.groups.has(key)) continue;
        if (head.next_attempt_at > now) {
          this.wakeAt(head.next_attempt_at);
          continue;
        }
        // Full: a group that finishes scans again.
        if (this.groups.size >= this.deps.concurrency) return;
        if ((this.sendingTo.get(endpointId) ?? 0) >= this.deps.perEndpoint) break;
        this.start(key, endpointId, group);
      }
    }
  }

  private start(key: string, endpointId: string, group: readonly WebhookOutboxDoc[]): void {
    this.sendingTo.set(endpointId, (this.sendingTo.get(endpointId) ?? 0) + 1);
    const work = this.sendGroup(endpointId, group)
      .catch((error: unknown) =>
        this.deps.logger.warn('webhook delivery failed to record', { error, endpoint: endpointId }),
      )
      .finally(() => {
        this.groups.delete(key);
        const left = (this.sendingTo.get(endpointId) ?? 1) - 1;
        if (left > 0) this.sendingTo.set(endpointId, left);
        else this.sendingTo.delete(endpointId);
        this.kick();
      });
    this.groups.set(key, work);
  }

  /** In order, each after the one before succeeded; stops at the first that does not. */
  private async sendGroup(endpointId: string, group: readonly WebhookOutboxDoc[]): Promise<void> {
    const first = group[0];
    if (first === undefined) return;
    const endpoint = await this.deps.endpoints.get(first.project_id, endpointId);
    // Deleted: its deliveries were ended with it (a race leaves them to the next scan).
    if (!endpoint || endpoint.deleted_at !== null) return;
    for (const pending of group) {
      if (this.stopping.signal.aborted) return;
      const now = this.now();
      if (pending.next_attempt_at > now) {
        this.wakeAt(pending.next_attempt_at);
        return;
      }
      if (!(await this.deps.deliveries.claimAttempt(pending, this.deps.owner, now))) {
        const staleBefore = new Date(now.getTime() - this.deps.staleAfterMs);
        // Another replica has it, or had it and died: then it is due again, and scanned again.
        if (await this.deps.deliveries.recoverAttempt(pending, staleBefore, now)) this.kick();
        return;
      }
      if (!(await this.attempt(endpoint, pending))) return;
    }
  }

  /** One claimed attempt, recorded; true when it succeeded. */
  private async attempt(
    endpoint: WebhookEndpointRecord,
    pending: WebhookOutboxDoc,
  ): Promise<boolean> {
    const event = await this.deps.events.get(pending.event_id);
    const answer = event
      ? await this.post(endpoint, event, pending.attempts + 1)
      : { statusCode: 0, error: 'the event is no longer stored', durationMs: 0 };
    const result: AttemptResult = { ...answer, finishedAt: this.now() };
    const seconds = answer.durationMs / 1000;
    if (answer.error === '') {
      await this.deps.deliveries.succeeded(pending, result);
      this.deps.observer?.onAttempt?.('succeeded', seconds);
      return true;
    }
    const next = this.nextAttemptAt(pending, result, event === null);
    await this.deps.deliveries.failed(pending, result, next);
    this.deps.observer?.onAttempt?.(next > pending.give_up_at ? 'given_up' : 'failed', seconds);
    this.wakeAt(next);
    return false;
  }

  private post(
    endpoint: WebhookEndpointRecord,
    event: OutboundEventDoc,
    attemptNumber: number,
  ): ReturnType<WebhookTransport['post']> {
    return this.deps.transport.post({
      url: endpoint.url,
      body: event.body,
      headers: {
        'billing-signature': signatureHeader(endpoint.secret, event.body, this.now()),
        'billing-event-id': event._id,
        'billing-event-type': event.type,
        'billing-delivery-attempt': String(attemptNumber),
      },
      signal: this.stopping.signal,
    });
  }

  /** Stopping is no failure of the endpoint's: due again at once (another replica, or the restart). */
  private nextAttemptAt(pending: WebhookOutboxDoc, result: AttemptResult, gone: boolean): Date {
    if (gone) return new Date(pending.give_up_at.getTime() + 1);
    if (this.stopping.signal.aborted) return result.finishedAt;
    return nextDeliveryAttemptAt(
      result.finishedAt,
      pending.attempts + 1,
      this.deps.retry,
      this.random,
    );
  }

  private wakeAt(time: Date): void {
    if (this.stopping.signal.aborted) return;
    const at = Math.min(time.getTime(), this.now().getTime() + maxTimerMs);
    if (this.timer && this.timer.at <= at) return;
    if (this.timer) clearTimeout(this.timer.handle);
    const handle = setTimeout(
      () => {
        this.timer = undefined;
        this.kick();
      },
      Math.max(0, at - this.now().getTime()),
    );
    handle.unref();
    this.timer = { at, handle };
  }
}

/** Pending deliveries (in order) by customer, in the order of each group's first. */
function groupsByCustomer(pending: readonly WebhookOutboxDoc[]): Map<string, WebhookOutboxDoc[]> {
  const groups = new Map<string, WebhookOutboxDoc[]>();
  for (const delivery of pending) {
    const key = `${delivery.endpoint_id}\u0000${delivery.customer_id}`;
    const group = groups.get(key);
    if (group) group.push(delivery);
    else groups.set(key, [delivery]);
  }
  return groups;
}
