/**
 * Operators manage a project's webhook endpoints and read their delivery
 * log: create (the signing secret is shown once), list, update, delete;
 * list and inspect deliveries, replay one. Every write is audited with
 * actor and reason, never with the secret. Endpoint changes are broadcast
 * so every replica's WebhookEndpointCache sees them at once.
 */
import { randomBytes } from 'node:crypto';
import type { InvalidationBus } from '../cache/invalidation-bus.js';
import { FailedPreconditionError, InvalidInputError, NotFoundError } from '../domain/errors.js';
import {
  eventTypesRefusal,
  newEndpointSecret,
  normalizedEventTypes,
} from '../domain/outbound-webhooks.js';
import type {
  AuditRecord,
  DeliveryListQuery,
  WebhookAttemptRecord,
  WebhookDeliveryRecord,
  WebhookEndpointRecord,
} from '../domain/records.js';
import { endpointUrlRefusal } from '../domain/webhook-addresses.js';
import type { OutboundEventStore } from '../store/outbound-event-store.js';
import type { WebhookDeliveryStore } from '../store/webhook-delivery-store.js';
import type {
  WebhookEndpointChanges,
  WebhookEndpointStore,
} from '../store/webhook-endpoint-store.js';

/** As many as Stripe allows per account: more is a product's design problem. */
export const maxEndpointsPerProject = 16;

export interface WebhookEndpointDeps {
  readonly endpoints: Pick<
    WebhookEndpointStore,
    'insert' | 'list' | 'get' | 'update' | 'markDeleted'
  >;
  readonly deliveries: Pick<
    WebhookDeliveryStore,
    'list' | 'get' | 'attemptsOf' | 'replay' | 'endpointDeleted'
  >;
  readonly events: Pick<OutboundEventStore, 'get'>;
  readonly audit: { append(record: AuditRecord): Promise<unknown> };
  readonly bus: Pick<InvalidationBus, 'publish'>;
  /** Told of a replay (WebhookDispatcher). */
  readonly dispatcher: { kick(): void };
  readonly allowedHosts: ReadonlySet<string>;
  readonly retryForMs: number;
  readonly now?: () => Date;
}

export interface Actor {
  readonly projectId: string;
  readonly actor: string;
  readonly reason: string;
}

export interface NewEndpoint extends Actor {
  readonly url: string;
  readonly eventTypes: readonly string[];
  readonly description: string;
}

/** A delivery with the event as sent and its attempts. */
export interface DeliveryDetail {
  readonly delivery: WebhookDeliveryRecord;
  readonly payload: string;
  readonly attempts: readonly WebhookAttemptRecord[];
}

export class WebhookEndpointService {
  private readonly now: () => Date;

  constructor(private readonly deps: WebhookEndpointDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async create(input: NewEndpoint): Promise<{ endpoint: WebhookEndpointRecord; secret: string }> {
    const url = this.checkedUrl(input.url);
    const eventTypes = checkedEventTypes(input.eventTypes);
    const live = await this.deps.endpoints.list(input.projectId, false);
    if (live.length >= maxEndpointsPerProject) {
      throw new FailedPreconditionError(
        `a project has at most ${maxEndpointsPerProject} webhook endpoints; delete one first`,
      );
    }
    const now = this.now();
    const secret = newEndpointSecret(randomBytes);
    const endpoint: WebhookEndpointRecord = {
      _id: `we_${randomBytes(12).toString('hex')}`,
      project_id: input.projectId,
      url,
      event_types: eventTypes,
      description: input.description,
      secret,
      created_at: now,
      created_by: input.actor,
      updated_at: now,
      deleted_at: null,
    };
    await this.deps.endpoints.insert(endpoint);
    await this.audited(input, 'webhook_endpoint.create', endpoint._id, null, endpoint);
    await this.changed(input.projectId);
    return { endpoint, secret };
  }

  list(projectId: string, includeDeleted: boolean): Promise<WebhookEndpointRecord[]> {
    return this.deps.endpoints.list(projectId, includeDeleted);
  }

  async update(
    endpointId: string,
    changes: WebhookEndpointChanges,
    actor: Actor,
  ): Promise<WebhookEndpointRecord> {
    const checked: WebhookEndpointChanges = {
      url: changes.url === undefined ? undefined : this.checkedUrl(changes.url),
      eventTypes:
        changes.eventTypes === undefined ? undefined : checkedEventTypes(changes.eventTypes),
      description: changes.description,
    };
    const before = await this.live(actor.projectId, endpointId);
    const after = await this.deps.endpoints.update(
      actor.projectId,
      endpointId,
      checked,
      this.now(),
    );
    if (!after) throw new NotFoundError(`webhook endpoint ${endpointId}`);
    await this.audited(actor, 'webhook_endpoint.update', endpointId, before, after);
    await this.changed(actor.projectId);
    return after;
  }

  /** Its pending deliveries end as failed; it receives nothing more. */
  async delete(endpointId: string, actor: Actor): Promise<WebhookEndpointRecord> {
    const before = await this.live(actor.projectId, endpointId);
    const after = await this.deps.endpoints.markDeleted(actor.projectId, endpointId, this.now());
    if (!after) throw new NotFoundError(`webhook endpoint ${endpointId}`);
    await this.deps.deliveries.endpointDeleted(endpointId);
    await this.audited(actor, 'webhook_endpoint.delete', endpointId, before, after);
    await this.changed(actor.projectId);
    return after;
  }

  listDeliveries(projectId: string, query: DeliveryListQuery): Promise<WebhookDeliveryRecord[]> {
    return this.deps.deliveries.list(projectId, query);
  }

  async getDelivery(projectId: string, deliveryId: string): Promise<DeliveryDetail> {
    const delivery = await this.deps.deliveries.get(projectId, deliveryId);
    if (!delivery) throw new NotFoundError(`webhook delivery ${deliveryId}`);
    const [event, attempts] = await Promise.all([
      this.deps.events.get(delivery.event_id),
      this.deps.deliveries.attemptsOf(deliveryId),
    ]);
    return { delivery, payload: event?.body ?? '', attempts };
  }

  /** Pending again, due now, with a new retry window; the same event id. */
  async replay(deliveryId: string, actor: Actor): Promise<WebhookDeliveryRecord> {
    const before = await this.deps.deliveries.get(actor.projectId, deliveryId);
    if (!before) throw new NotFoundError(`webhook delivery ${deliveryId}`);
    const endpoint = await this.deps.endpoints.get(actor.projectId, before.endpoint_id);
    if (!endpoint || endpoint.deleted_at !== null) {
      throw new FailedPreconditionError(`the endpoint ${before.endpoint_id} was deleted`);
    }
    if (!(await this.deps.events.get(before.event_id))) {
      throw new FailedPreconditionError(`the event ${before.event_id} is no longer stored`);
    }
    const now = this.now();
    const giveUpAt = new Date(now.getTime() + this.deps.retryForMs);
    const after = await this.deps.deliveries.replay(actor.projectId, deliveryId, now, giveUpAt);
    if (!after) throw new NotFoundError(`webhook delivery ${deliveryId}`);
    await this.deps.audit.append({
      projectId: actor.projectId,
      actor: actor.actor,
      action: 'webhook_delivery.replay',
      target: `webhook_delivery:${deliveryId}`,
      before: { status: before.status, attempts: before.attempts },
      after: { status: after.status, attempts: after.attempts },
      reason: actor.reason,
      time: now,
    });
    this.deps.dispatcher.kick();
    return after;
  }

  private async live(projectId: string, endpointId: string): Promise<WebhookEndpointRecord> {
    const endpoint = await this.deps.endpoints.get(projectId, endpointId);
    if (!endpoint || endpoint.deleted_at !== null) {
      throw new NotFoundError(`webhook endpoint ${endpointId}`);
    }
    return endpoint;
  }

  private checkedUrl(url: string): string {
    const refusal = endpointUrlRefusal(url, this.deps.allowedHosts);
    if (refusal !== undefined) throw new InvalidInputError(`url ${refusal}`, { field: 'url' });
    return url;
  }

  private async audited(
    actor: Actor,
    action: string,
    endpointId: string,
    before: WebhookEndpointRecord | null,
    after: WebhookEndpointRecord,
  ): Promise<void> {
    await this.deps.audit.append({
      projectId: actor.projectId,
      actor: actor.actor,
      action,
      target: `webhook_endpoint:${endpointId}`,
      before: before && describe(before),
      after: describe(after),
      reason: actor.reason,
      time: after.updated_at,
    });
  }

  private async changed(projectId: string): Promise<void> {
    await this.deps.bus.publish({ kind: 'webhook_endpoints', projectId });
  }
}

function checkedEventTypes(types: readonly string[]): string[] {
  const refusal = eventTypesRefusal(types);
  if (refusal !== undefined) throw new InvalidInputError(refusal, { field: 'event_types' });
  return normalizedEventTypes(types);
}

/** What the audit log keeps of an endpoint: everything but the secret. */
function describe(endpoint: WebhookEndpointRecord): Record<string, unknown> {
  return {
    url: endpoint.url,
    event_types: endpoint.event_types,
    description: endpoint.description,
    deleted_at: endpoint.deleted_at,
  };
}
