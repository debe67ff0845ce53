/**
 * Outbound webhook handlers: products' endpoints (the secret shown once, at
 * creation), the delivery log and replays. Another project's endpoint or
 * delivery is reported exactly like a missing one (NOT_FOUND).
 */
import { create } from '@bufbuild/protobuf';
import {
  CreateWebhookEndpointResponseSchema,
  DeleteWebhookEndpointResponseSchema,
  GetWebhookDeliveryResponseSchema,
  ListWebhookDeliveriesResponseSchema,
  ListWebhookEndpointsResponseSchema,
  ReplayWebhookDeliveryResponseSchema,
  UpdateWebhookEndpointResponseSchema,
  type WebhookDelivery,
  type WebhookDeliveryAttempt,
  WebhookDeliveryAttemptSchema,
  WebhookDeliverySchema,
  WebhookDeliveryStatus,
  type WebhookEndpoint,
  WebhookEndpointSchema,
} from '../../../gen/billing/v1/webhook_endpoints_pb.js';
import { eventIdPattern } from '../../domain/outbound-webhooks.js';
import type {
  WebhookAttemptRecord,
  WebhookDeliveryRecord,
  WebhookDeliveryState,
  WebhookEndpointRecord,
} from '../../domain/records.js';
import { requirePrincipal } from '../auth.js';
import { afterFromPageToken, pageToken, timestampOrUndefined } from '../convert.js';
import {
  invalid,
  optionalText,
  pageSize,
  requireMatch,
  requireReason,
  requireText,
} from '../validate.js';
import type { AdminRoutesDeps, WebhookEndpointHandlers } from './admin-routes-deps.js';

const endpointIdPattern = /^we_[0-9a-f]{24}$/;
const deliveryIdPattern = /^we_[0-9a-f]{24}:bev_[0-9a-f]{32}$/;
const maxUrlLength = 2048;
const maxDescriptionLength = 500;
const maxEventTypes = 16;

const statuses: ReadonlyArray<[WebhookDeliveryState, WebhookDeliveryStatus]> = [
  ['pending', WebhookDeliveryStatus.PENDING],
  ['succeeded', WebhookDeliveryStatus.SUCCEEDED],
  ['failed', WebhookDeliveryStatus.FAILED],
];
const statusOfState = new Map(statuses);
const stateOfStatus = new Map(statuses.map(([state, status]) => [status, state]));

export function webhookEndpointHandlers(deps: AdminRoutesDeps): WebhookEndpointHandlers {
  const endpoints = deps.webhookEndpoints;
  return {
    async createWebhookEndpoint(req, context) {
      const principal = requirePrincipal(context);
      const created = await endpoints.create({
        ...actorOf(principal, req.reason),
        url: requireText('url', req.url, maxUrlLength),
        eventTypes: eventTypes(req.eventTypes),
        description: optionalText('description', req.description, maxDescriptionLength),
      });
      return create(CreateWebhookEndpointResponseSchema, {
        endpoint: endpointMessage(created.endpoint),
        secret: created.secret,
      });
    },

    async listWebhookEndpoints(req, context) {
      const principal = requirePrincipal(context);
      const list = await endpoints.list(principal.projectId, req.includeDeleted);
      return create(ListWebhookEndpointsResponseSchema, { endpoints: list.map(endpointMessage) });
    },

    async updateWebhookEndpoint(req, context) {
      const principal = requirePrincipal(context);
      const endpointId = requireEndpointId(req.endpointId);
      const changes = {
        url: req.url === undefined ? undefined : requireText('url', req.url, maxUrlLength),
        eventTypes:
          req.eventTypes === undefined ? undefined : eventTypes(req.eventTypes.eventTypes),
        description:
          req.description === undefined
            ? undefined
            : optionalText('description', req.description, maxDescriptionLength),
      };
      const updated = await endpoints.update(endpointId, changes, actorOf(principal, req.reason));
      return create(UpdateWebhookEndpointResponseSchema, { endpoint: endpointMessage(updated) });
    },

    async deleteWebhookEndpoint(req, context) {
      const principal = requirePrincipal(context);
      const endpointId = requireEndpointId(req.endpointId);
      const deleted = await endpoints.delete(endpointId, actorOf(principal, req.reason));
      return create(DeleteWebhookEndpointResponseSchema, { endpoint: endpointMessage(deleted) });
    },

    async listWebhookDeliveries(req, context) {
      const principal = requirePrincipal(context);
      const limit = pageSize(req.pageSize);
      const deliveries = await endpoints.listDeliveries(principal.projectId, {
        endpointId: req.endpointId === '' ? undefined : requireEndpointId(req.endpointId),
        eventId:
          req.eventId === ''
            ? undefined
            : requireMatch('event_id', req.eventId, eventIdPattern, 'an event id (bev_...)'),
        status: statusFilter(req.status),
        after: afterFromToken(req.pageToken),
        limit: limit + 1,
      });
      const page = deliveries.slice(0, limit);
      const last = page.at(-1);
      return create(ListWebhookDeliveriesResponseSchema, {
        deliveries: page.map((delivery) => deliveryMessage(delivery, '')),
        nextPageToken: deliveries.length > limit && last ? tokenAfter(last) : '',
      });
    },

    async getWebhookDelivery(req, context) {
      const principal = requirePrincipal(context);
      const detail = await endpoints.getDelivery(
        principal.projectId,
        requireDeliveryId(req.deliveryId),
      );
      return create(GetWebhookDeliveryResponseSchema, {
        delivery: deliveryMessage(detail.delivery, detail.payload),
        attempts: detail.attempts.map(attemptMessage),
      });
    },

    async replayWebhookDelivery(req, context) {
      const principal = requirePrincipal(context);
      const delivery = await endpoints.replay(
        requireDeliveryId(req.deliveryId),
        actorOf(principal, req.reason),
      );
      return create(ReplayWebhookDeliveryResponseSchema, {
        delivery: deliveryMessage(delivery, ''),
      });
    },
  };
}

function actorOf(principal: { projectId: string; keyId: string }, reason: string) {
  return { projectId: principal.projectId, actor: principal.keyId, reason: requireReason(reason) };
}

/** Shape only; which types exist is the service's rule. */
function eventTypes(types: readonly string[]): string[] {
  if (types.length > maxEventTypes) {
    throw invalid('event_types', `must name at most ${maxEventTypes} types`);
  }
  return types.map((type) => requireText('event_types', type, 64));
}

function requireEndpointId(value: string): string {
  return requireMatch('endpoint_id', value, endpointIdPattern, 'an endpoint id (we_...)');
}

function requireDeliveryId(value: string): string {
  return requireMatch(
    'delivery_id',
    value,
    deliveryIdPattern,
    'a delivery id (<endpoint id>:<event id>)',
  );
}

function statusFilter(status: WebhookDeliveryStatus): WebhookDeliveryState | undefined {
  if (status === WebhookDeliveryStatus.UNSPECIFIED) return undefined;
  const state = stateOfStatus.get(status);
  if (!state) throw invalid('status', 'is not a webhook delivery status');
  return state;
}

/** Page tokens: the last delivery's creation time and id (convert.ts's page tokens). */
const cursorPattern = /^\d{1,15}\|we_[0-9a-f]{24}:bev_[0-9a-f]{32}$/;

function tokenAfter(delivery: WebhookDeliveryRecord): string {
  return pageToken(`${delivery.created_at.getTime()}|${delivery._id}`);
}

function afterFromToken(token: string): { createdAt: Date; id: string } | undefined {
  const cursor = afterFromPageToken(token, cursorPattern);
  if (cursor === undefined) return undefined;
  const [millis = '', id = ''] = cursor.split('|');
  return { createdAt: new Date(Number(millis)), id };
}

function endpointMessage(endpoint: WebhookEndpointRecord): WebhookEndpoint {
  return create(WebhookEndpointSchema, {
    id: endpoint._id,
    projectId: endpoint.project_id,
    url: endpoint.url,
    eventTypes: endpoint.event_types,
    description: endpoint.description,
    createdAt: timestampOrUndefined(endpoint.created_at),
    createdBy: endpoint.created_by,
    deletedAt: timestampOrUndefined(endpoint.deleted_at),
  });
}

function deliveryMessage(delivery: WebhookDeliveryRecord, payload: string): WebhookDelivery {
  return create(WebhookDeliverySchema, {
    id: delivery._id,
    endpointId: delivery.endpoint_id,
    eventId: delivery.event_id,
    eventType: delivery.event_type,
    customerId: delivery.customer_id,
    status: statusOfState.get(delivery.status) ?? WebhookDeliveryStatus.UNSPECIFIED,
    attempts: delivery.attempts,
    lastStatusCode: delivery.last_status_code,
    lastError: delivery.last_error,
    createdAt: timestampOrUndefined(delivery.created_at),
    nextAttemptAt: timestampOrUndefined(delivery.next_attempt_at),
    deliveredAt: timestampOrUndefined(delivery.delivered_at),
    payload,
  });
}

function attemptMessage(attempt: WebhookAttemptRecord): WebhookDeliveryAttempt {
  return create(WebhookDeliveryAttemptSchema, {
    number: attempt.number,
    startedAt: timestampOrUndefined(attempt.started_at),
    statusCode: attempt.status_code,
    error: attempt.finished_at === null ? 'in flight' : attempt.error,
    durationMs: attempt.duration_ms,
  });
}
