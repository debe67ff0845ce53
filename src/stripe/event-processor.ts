/**
 * Applies one verified Stripe event exactly once in effect: claim the
 * receipt, run the event type's handler, mark the receipt, then tell the
 * caches. Every handler's writes are idempotent and guarded by event time,
 * so a retry after a crash half-way repeats nothing harmful.
 */
import type Stripe from 'stripe';
import type { TimelineCause } from '../domain/timeline.js';
import { isDependencyDown } from '../failure-classification.js';
import type { Logger } from '../logger.js';
import type { EventIdentity, EventReceiptStore } from '../store/event-receipt-store.js';
import { belongsToProject } from './event-ownership.js';
import { eventHandlers, type WebhookContext } from './handlers/index.js';
import { retryThroughOutage } from './outage-retry.js';

/** `dead`: failed for the last allowed time; answered 2xx so Stripe stops retrying. */
export type ProcessOutcome = 'processed' | 'ignored' | 'duplicate' | 'busy' | 'dead';

/** Where an applied event's effects are announced (caches, streams on every replica). */
export interface EntitlementChanges {
  customersChanged(
    projectId: string,
    customerIds: Iterable<string>,
    cause: TimelineCause,
  ): Promise<void>;
  stripeCustomersChanged(
    projectId: string,
    stripeCustomerIds: Iterable<string>,
    cause: TimelineCause,
  ): Promise<void>;
}

export interface EventProcessorOptions {
  readonly receipts: EventReceiptStore;
  readonly changes: EntitlementChanges;
  readonly logger: Logger;
  /** Attempts after which an event that fails other than by a dependency being down is given up. */
  readonly maxAttempts: number;
  /** Observes every outcome (Prometheus webhook events by type and outcome). */
  readonly onOutcome?: (type: string, outcome: ProcessOutcome | 'failed') => void;
  /** How long the last mark of an applied event is retried while MongoDB is down (default 10 s). */
  readonly markRetryMs?: number;
}

export class EventProcessor {
  private readonly receipts: EventReceiptStore;
  private readonly notifier: EntitlementChanges;
  private readonly logger: Logger;
  private readonly maxAttempts: number;
  private readonly onOutcome: (type: string, outcome: ProcessOutcome | 'failed') => void;
  private readonly markRetryMs: number;

  constructor(options: EventProcessorOptions) {
    this.receipts = options.receipts;
    this.notifier = options.changes;
    this.logger = options.logger;
    this.maxAttempts = options.maxAttempts;
    this.onOutcome = options.onOutcome ?? (() => {});
    this.markRetryMs = options.markRetryMs ?? 10_000;
  }

  async process(event: Stripe.Event, context: WebhookContext): Promise<ProcessOutcome> {
    const identity = { projectId: context.project._id, eventId: event.id, type: event.type };
    const claim = await this.receipts.claim(identity, context.now);
    if (claim !== 'claimed')
      return this.report(event.type, claim === 'done' ? 'duplicate' : 'busy');
    const handler = eventHandlers.get(event.type);
    if (!handler) {
      await this.receipts.finish(identity, 'ignored', context.now, 'unhandled_type');
      return this.report(event.type, 'ignored');
    }
    try {
      if (!(await belongsToProject(handler.ownerOf(event), context))) {
        await this.receipts.finish(identity, 'ignored', context.now, 'other_project');
        return this.report(event.type, 'ignored');
      }
      const result = await handler.apply(event, context);
      // Notify before marking the receipt: if this fails, the receipt stays
      // retryable and Stripe's retry notifies again (twice is harmless).
      const cause = { kind: 'stripe_event', eventId: event.id, eventType: event.type } as const;
      await this.notifier.customersChanged(context.project._id, result.customerIds, cause);
      await this.notifier.stripeCustomersChanged(
        context.project._id,
        result.stripeCustomerIds,
        cause,
      );
      await this.markProcessed(identity, context.now);
      return this.report(event.type, 'processed');
    } catch (err) {
      this.onOutcome(event.type, 'failed');
      this.logger.warn('webhook event failed; Stripe will retry', {
        event_id: event.id,
        type: event.type,
        error: err,
      });
      await this.receipts
        .fail(identity, err instanceof Error ? err.message : String(err))
        .catch((error: unknown) =>
          // The receipt stays `processing` until its lease ends; Stripe's retry takes it over then.
          this.logger.warn('webhook event failure not recorded', { event_id: event.id, error }),
        );
      if (await this.givenUp(event, identity, err)) return this.report(event.type, 'dead');
      throw err;
    }
  }

  /**
   * The event is applied and announced; only its receipt's mark is left. A
   * dependency-down error here may come after the write landed, its reply
   * lost to a restart: answering 5xx then would tell Stripe "not applied"
   * about an applied event, and mark it failed once MongoDB is back, so that
   * the retry applies it again. The mark is an idempotent `$set`, so it is
   * tried again while MongoDB comes back, for up to `markRetryMs`; the
   * claim's lease is longer, so no other delivery takes the event meanwhile.
   */
  private async markProcessed(identity: EventIdentity, now: Date): Promise<void> {
    await retryThroughOutage(() => this.receipts.finish(identity, 'processed', now), {
      budgetMs: this.markRetryMs,
    });
  }

  /**
   * Stripe retries a failed event for days, and one that fails the same way
   * each time would answer 500 all along: after `maxAttempts` it is kept as
   * dead for an operator to replay. A dependency that is down is not given up.
   */
  private async givenUp(event: Stripe.Event, identity: EventIdentity, err: unknown) {
    if (isDependencyDown(err)) return false;
    try {
      const dead = await this.receipts.giveUp(identity, this.maxAttempts, JSON.stringify(event));
      if (dead)
        this.logger.error('webhook event given up; replay it with ReplayWebhookEvent', {
          event_id: event.id,
          type: event.type,
          max_attempts: this.maxAttempts,
        });
      return dead;
    } catch (giveUpError) {
      this.logger.warn('webhook event could not be given up; Stripe will retry', {
        event_id: event.id,
        error: giveUpError,
      });
      return false;
    }
  }

  private report(type: string, outcome: ProcessOutcome): ProcessOutcome {
    this.onOutcome(type, outcome);
    return outcome;
  }
}
