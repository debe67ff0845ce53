/**
 * Makes the outbound events and queues one delivery per endpoint that
 * receives the type (src/domain/outbound-webhooks.ts):
 *
 * - `entitlement.changed` and `subscription.past_due`, from every recorded
 *   change of a customer's facts (the EntitlementChangeNotifier);
 * - `usage.threshold_reached`, from a usage that took the period's usage
 *   across 80% or 100% of its allowance (the UsageService);
 * - `grant.expiring`, from the grant.expiring job.
 *
 * A project with no endpoint for the type costs a memory read and nothing
 * more. Recording an event never fails its caller (a Stripe webhook, a
 * TrackUsage): the change is applied already and a retry would not find it
 * again, so a failure is logged and counted instead (docs/decisions.md,
 * "Outbound webhooks").
 */
import type { EntitlementSet } from '../domain/entitlements.js';
import {
  endpointReceives,
  entitlementChangedData,
  eventBody,
  isoOrNull,
  type OutboundEvent,
  type OutboundEventType,
  outboundEventId,
  pastDueStarts,
  thresholdsCrossed,
} from '../domain/outbound-webhooks.js';
import type { TimelineCause } from '../domain/timeline.js';
import type { Logger } from '../logger.js';
import type { GrantDoc } from '../store/documents.js';
import type { OutboundEventStore } from '../store/outbound-event-store.js';
import { deliveryIdOf, type WebhookDeliveryStore } from '../store/webhook-delivery-store.js';
import type { CustomerChange, CustomerChangeEvents } from './entitlement-change-notifier.js';
import type { WebhookEndpointCache } from './webhook-endpoint-cache.js';

export interface OutboundEventObserver {
  /** An event recorded for at least one endpoint. */
  onEvent?(type: OutboundEventType): void;
  onEmitFailed?(type: OutboundEventType): void;
}

export interface OutboundEventDeps {
  readonly endpoints: Pick<WebhookEndpointCache, 'liveOf'>;
  readonly events: Pick<OutboundEventStore, 'add'>;
  readonly deliveries: Pick<WebhookDeliveryStore, 'add'>;
  /** Told when deliveries were queued (WebhookDispatcher). */
  readonly dispatcher: { kick(): void };
  /** How long a delivery is retried. */
  readonly retryForMs: number;
  readonly logger: Logger;
  readonly observer?: OutboundEventObserver;
  /** Wall time: events are sent and retried in real time. */
  readonly now?: () => Date;
}

/** A usage just recorded, and the feature's standing after it. */
export interface RecordedUsageStanding {
  readonly projectId: string;
  readonly customerId: string;
  readonly feature: string;
  readonly amount: number;
  /** The period's allowance (credits not included); null: unlimited. */
  readonly allowance: number | null;
  /** The end of the period the usage counted in. */
  readonly periodEnd: Date;
  /** The standing's period (its end) and its usage; absent: the feature is not metered. */
  readonly standing?: {
    readonly usage: number;
    readonly balance: number | null;
    readonly resetsAt: Date;
  };
}

export class OutboundEventService implements CustomerChangeEvents {
  private readonly now: () => Date;

  constructor(private readonly deps: OutboundEventDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async customerChanged(change: CustomerChange): Promise<void> {
    const { projectId, customerId, version } = change;
    const recorded = change.change;
    if (recorded.changedFeatures.length > 0) {
      const order = version > 0 ? version : this.nowMicros();
      const data = entitlementChangedData(
        customerId,
        version,
        recorded.changedFeatures,
        causeData(change.cause),
        recorded.setAfter,
      );
      await this.emit(
        this.customerEvent(
          'entitlement.changed',
          [projectId, customerId, order],
          change,
          data,
          order,
        ),
      );
    }
    for (const start of pastDueStarts(recorded.factsBefore, recorded.factsAfter)) {
      const about = [projectId, start.subscriptionId, start.since.getTime()];
      await this.emit(
        this.customerEvent('subscription.past_due', about, change, {
          subscription_id: start.subscriptionId,
          past_due_since: start.since.toISOString(),
          access_until: isoOrNull(accessUntil(recorded.setAfter, start.subscriptionId)),
        }),
      );
    }
  }

  async usageRecorded(usage: RecordedUsageStanding): Promise<void> {
    const standing = usage.standing;
    // A usage of an earlier period does not count in the standing shown.
    if (!standing || standing.resetsAt.getTime() !== usage.periodEnd.getTime()) return;
    const { projectId, customerId, feature } = usage;
    for (const percent of thresholdsCrossed(standing.usage, usage.amount, usage.allowance)) {
      const about = [projectId, customerId, feature, usage.periodEnd.getTime(), percent];
      await this.emit(
        this.customerEvent('usage.threshold_reached', about, usage, {
          feature,
          threshold_percent: percent,
          usage: standing.usage,
          allowance: usage.allowance,
          balance: standing.balance,
          period_end: usage.periodEnd.toISOString(),
        }),
      );
    }
  }

  async grantExpiring(grant: GrantDoc): Promise<void> {
    const expiresAt = grant.expires_at;
    if (expiresAt === null) return;
    const about = [grant.project_id, grant._id, expiresAt.getTime()];
    const customer = { projectId: grant.project_id, customerId: grant.customer_id };
    await this.emit(
      this.customerEvent('grant.expiring', about, customer, {
        grant_id: grant._id,
        feature: grant.feature,
        limit: grant.limit,
        expires_at: expiresAt.toISOString(),
      }),
    );
  }

  /**
   * An event of one customer, now; its id derived from its type and what it
   * is about; ordered by `order` (default: now in microseconds).
   */
  private customerEvent(
    type: OutboundEventType,
    about: readonly (string | number)[],
    customer: { readonly projectId: string; readonly customerId: string },
    data: Readonly<Record<string, unknown>>,
    order = this.nowMicros(),
  ): OutboundEvent {
    return {
      id: outboundEventId(type, ...about),
      type,
      projectId: customer.projectId,
      customerId: customer.customerId,
      created: this.now(),
      order,
      data: { customer_id: customer.customerId, ...data },
    };
  }

  /** Recorded once, with one delivery per endpoint that receives it; never rejects. */
  private async emit(event: OutboundEvent): Promise<void> {
    try {
      const receivers = (await this.deps.endpoints.liveOf(event.projectId)).filter((endpoint) =>
        endpointReceives(endpoint.event_types, event.type),
      );
      if (receivers.length === 0) return;
      const created = event.created;
      await this.deps.events.add({
        _id: event.id,
        project_id: event.projectId,
        type: event.type,
        customer_id: event.customerId ?? '',
        order: event.order,
        created_at: created,
        body: eventBody(event),
      });
      for (const endpoint of receivers) {
        await this.deps.deliveries.add({
          _id: deliveryIdOf(endpoint._id, event.id),
          project_id: event.projectId,
          endpoint_id: endpoint._id,
          event_id: event.id,
          event_type: event.type,
          customer_id: event.customerId ?? '',
          order: event.order,
          status: 'pending',
          attempts: 0,
          last_status_code: 0,
          last_error: '',
          created_at: created,
          next_attempt_at: created,
          delivered_at: null,
          give_up_at: new Date(created.getTime() + this.deps.retryForMs),
        });
      }
      this.deps.observer?.onEvent?.(event.type);
      this.deps.dispatcher.kick();
    } catch (error) {
      this.deps.observer?.onEmitFailed?.(event.type);
      this.deps.logger.error('outbound event not recorded', {
        error,
        event_id: event.id,
        type: event.type,
        project_id: event.projectId,
      });
    }
  }

  private nowMicros(): number {
    return this.now().getTime() * 1000;
  }
}

function causeData(cause: TimelineCause): { kind: string; id: string } {
  if (cause.kind === 'stripe_event') return { kind: cause.kind, id: cause.eventId };
  if (cause.kind === 'reconciliation') return { kind: cause.kind, id: cause.runId };
  return { kind: cause.kind, id: cause.id };
}

/** Until when the subscription still gives anything (grace): its sources' earliest end. */
function accessUntil(set: EntitlementSet, subscriptionId: string): Date | null {
  let until: Date | null = null;
  for (const entitlement of set.entitlements) {
    for (const source of entitlement.sources) {
      if (source.kind !== 'subscription' || source.id !== subscriptionId) continue;
      if (source.validUntil && (until === null || source.validUntil < until)) {
        until = source.validUntil;
      }
    }
  }
  return until;
}
