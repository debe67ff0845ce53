/**
 * Operators' view of the Stripe events a project received: list them by
 * status, and replay one that was given up (dead) from the verified body kept
 * when it died. A replay runs the same processor as a delivery, so it claims
 * the receipt, and its writes are as idempotent as a Stripe retry's.
 */
import type Stripe from 'stripe';
import { FailedPreconditionError, NotFoundError } from '../domain/errors.js';
import type { AuditLogStore } from '../store/audit-log-store.js';
import type { CustomerStore } from '../store/customer-store.js';
import type { EventReceiptDoc } from '../store/documents.js';
import type { EventReceiptStore, ReceiptQuery } from '../store/event-receipt-store.js';
import type { PurchaseStore } from '../store/purchase-store.js';
import type { SubscriptionStore } from '../store/subscription-store.js';
import type { EventProcessor } from '../stripe/event-processor.js';
import type { StripeClients } from '../stripe/stripe-clients.js';
import type { ProjectCache } from './project-cache.js';

export interface WebhookEventServiceDeps {
  readonly receipts: EventReceiptStore;
  readonly processor: EventProcessor;
  readonly projects: ProjectCache;
  readonly stripeClients: StripeClients;
  readonly customers: CustomerStore;
  readonly subscriptions: SubscriptionStore;
  readonly purchases: PurchaseStore;
  readonly audit: AuditLogStore;
  readonly now?: () => Date;
}

export interface ReplayInput {
  readonly projectId: string;
  readonly eventId: string;
  readonly actor: string;
  readonly reason: string;
}

/** Dead events, and failed ones whose body was kept by an earlier give-up. */
export function isReplayable(receipt: EventReceiptDoc): boolean {
  return (
    (receipt.status === 'dead' || receipt.status === 'failed') &&
    typeof receipt.event_json === 'string'
  );
}

export class WebhookEventService {
  private readonly now: () => Date;

  constructor(private readonly deps: WebhookEventServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  list(projectId: string, query: ReceiptQuery): Promise<EventReceiptDoc[]> {
    return this.deps.receipts.list(projectId, query);
  }

  /** Applies the event again and answers its receipt afterwards (processed, or dead again). */
  async replay(input: ReplayInput): Promise<EventReceiptDoc> {
    const before = await this.deps.receipts.get(input.projectId, input.eventId);
    if (!before) throw new NotFoundError(`event ${input.eventId}`);
    if (!isReplayable(before) || before.event_json === undefined) {
      throw new FailedPreconditionError(
        `event ${input.eventId} is ${before.status}; only dead events can be replayed`,
      );
    }
    const project = await this.deps.projects.get(input.projectId);
    if (!project?.stripe_secret_key) {
      throw new FailedPreconditionError('the project has no Stripe secret key');
    }
    const event = JSON.parse(before.event_json) as Stripe.Event;
    await this.deps.receipts.reopen(input.projectId, input.eventId);
    const time = this.now();
    // A failure is recorded on the receipt (dead again, or failed); the answer shows it.
    await this.deps.processor
      .process(event, {
        project,
        stripe: this.deps.stripeClients.forKey(project.stripe_secret_key),
        customers: this.deps.customers,
        subscriptions: this.deps.subscriptions,
        purchases: this.deps.purchases,
        now: time,
      })
      .catch(() => 'failed' as const);
    const after = (await this.deps.receipts.get(input.projectId, input.eventId)) ?? before;
    await this.deps.audit.append({
      projectId: input.projectId,
      actor: input.actor,
      action: 'webhook_event.replay',
      target: `webhook_event:${input.eventId}`,
      before: describeReceipt(before),
      after: describeReceipt(after),
      reason: input.reason,
      time,
    });
    return after;
  }
}

function describeReceipt(receipt: EventReceiptDoc): Record<string, unknown> {
  return {
    type: receipt.type,
    status: receipt.status,
    attempts: receipt.attempts,
    last_error: receipt.last_error,
  };
}
