/** Webhook event handlers: what Stripe sent, which events failed, and replays. */
import { create } from '@bufbuild/protobuf';
import {
  ListWebhookEventsResponseSchema,
  ReplayWebhookEventResponseSchema,
  WebhookEventSchema,
  WebhookEventStatus,
} from '../../../gen/billing/v1/admin_pb.js';
import {
  type EventReceiptRecord,
  type EventReceiptStatus,
  eventIdPattern,
} from '../../domain/records.js';
import { isReplayable } from '../../services/webhook-event-service.js';
import { requirePrincipal } from '../auth.js';
import { afterFromPageToken, pageToken, timestampOrUndefined } from '../convert.js';
import { invalid, pageSize, requireMatch, requireReason } from '../validate.js';
import type { AdminRoutesDeps, WebhookEventHandlers } from './admin-routes-deps.js';

const statuses: ReadonlyArray<[EventReceiptStatus, WebhookEventStatus]> = [
  ['processing', WebhookEventStatus.PROCESSING],
  ['processed', WebhookEventStatus.PROCESSED],
  ['ignored', WebhookEventStatus.IGNORED],
  ['failed', WebhookEventStatus.FAILED],
  ['dead', WebhookEventStatus.DEAD],
];
const statusOfReceipt = new Map(statuses);
const receiptStatusOf = new Map(statuses.map(([receipt, status]) => [status, receipt]));

export function webhookEventHandlers(deps: AdminRoutesDeps): WebhookEventHandlers {
  return {
    async listWebhookEvents(req, context) {
      const principal = requirePrincipal(context);
      const limit = pageSize(req.pageSize);
      const receipts = await deps.webhookEvents.list(principal.projectId, {
        status: statusFilter(req.status),
        afterEventId: afterFromPageToken(req.pageToken, eventIdPattern),
        limit: limit + 1,
      });
      const page = receipts.slice(0, limit);
      return create(ListWebhookEventsResponseSchema, {
        events: page.map(webhookEventMessage),
        nextPageToken: receipts.length > limit ? pageToken(page.at(-1)?.event_id) : '',
      });
    },

    async replayWebhookEvent(req, context) {
      const principal = requirePrincipal(context);
      const eventId = requireMatch('event_id', req.eventId, eventIdPattern, 'a Stripe event id');
      const receipt = await deps.webhookEvents.replay({
        projectId: principal.projectId,
        eventId,
        actor: principal.keyId,
        reason: requireReason(req.reason),
      });
      return create(ReplayWebhookEventResponseSchema, { event: webhookEventMessage(receipt) });
    },
  };
}

function statusFilter(status: WebhookEventStatus): EventReceiptStatus | undefined {
  if (status === WebhookEventStatus.UNSPECIFIED) return undefined;
  const receiptStatus = receiptStatusOf.get(status);
  if (!receiptStatus) throw invalid('status', 'is not a webhook event status');
  return receiptStatus;
}

function webhookEventMessage(receipt: EventReceiptRecord) {
  return create(WebhookEventSchema, {
    eventId: receipt.event_id,
    type: receipt.type,
    status: statusOfReceipt.get(receipt.status) ?? WebhookEventStatus.UNSPECIFIED,
    attempts: receipt.attempts,
    lastError: receipt.last_error ?? '',
    receivedAt: timestampOrUndefined(receipt.received_at),
    processedAt: timestampOrUndefined(receipt.processed_at),
    replayable: isReplayable(receipt),
  });
}
