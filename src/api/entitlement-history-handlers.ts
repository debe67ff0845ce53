/**
 * ExplainEntitlement and ListCustomerTimeline (EntitlementsService): an API
 * key with entitlements:read, never a customer token (the timeline names
 * operators and their reasons). Answers from the EntitlementHistoryService.
 */
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import {
  type EntitlementsService,
  ExplainEntitlementResponseSchema,
  ListCustomerTimelineResponseSchema,
  type TimelineEntry,
  TimelineEntryKind,
  TimelineEntrySchema,
} from '../../gen/billing/v1/entitlements_pb.js';
import type { TimelineEntryKind as TimelineEntryKindName } from '../domain/timeline.js';
import { isCustomerEntryId } from '../domain/timeline-ids.js';
import type { EntitlementHistoryService, TimelineView } from '../services/entitlement-history.js';
import { requirePrincipal } from './auth.js';
import { afterFromPageToken, entitlementMessage, pageToken } from './convert.js';
import {
  invalid,
  optionalTimestamp,
  pageSize,
  requireCustomerId,
  requireFeature,
} from './validate.js';

export type EntitlementHistory = Pick<EntitlementHistoryService, 'explain' | 'timeline'>;

type HistoryHandlers = Pick<
  ServiceImpl<typeof EntitlementsService>,
  'explainEntitlement' | 'listCustomerTimeline'
>;

const kinds: Record<TimelineEntryKindName, TimelineEntryKind> = {
  stripe_event: TimelineEntryKind.STRIPE_EVENT,
  grant: TimelineEntryKind.GRANT,
  revoke: TimelineEntryKind.REVOKE,
  credit_grant: TimelineEntryKind.CREDIT_GRANT,
  credit_revoke: TimelineEntryKind.CREDIT_REVOKE,
  reconciliation: TimelineEntryKind.RECONCILIATION,
  catalog: TimelineEntryKind.CATALOG,
  grace_period: TimelineEntryKind.GRACE_PERIOD,
  expiry: TimelineEntryKind.EXPIRY,
  usage_reset: TimelineEntryKind.USAGE_RESET,
};

export function historyHandlers(history: EntitlementHistory): HistoryHandlers {
  return {
    async explainEntitlement(req, context: HandlerContext) {
      const principal = requirePrincipal(context);
      const customerId = requireCustomerId(req.customerId);
      const feature = requireFeature('feature', req.feature);
      const at = optionalTimestamp('at', req.at);
      if (at === undefined) throw invalid('at', 'is required');
      const explanation = await history.explain(principal.projectId, customerId, feature, at);
      return create(ExplainEntitlementResponseSchema, {
        entitlement: entitlementMessage(explanation.entitlement),
        at: timestampFromDate(explanation.at),
        entries: explanation.entries.map(timelineEntryMessage),
      });
    },

    async listCustomerTimeline(req, context: HandlerContext) {
      const principal = requirePrincipal(context);
      const customerId = requireCustomerId(req.customerId);
      const size = pageSize(req.pageSize, 20, 100);
      const before = afterFromPageToken(req.pageToken, {
        test: (id) => isCustomerEntryId(principal.projectId, customerId, id),
      });
      const page = await history.timeline(principal.projectId, customerId, size, before ?? '');
      return create(ListCustomerTimelineResponseSchema, {
        entries: page.entries.map(timelineEntryMessage),
        nextPageToken: pageToken(page.nextPageToken || undefined),
      });
    },
  };
}

function timelineEntryMessage(view: TimelineView): TimelineEntry {
  return create(TimelineEntrySchema, {
    id: view.id,
    at: timestampFromDate(view.at),
    kind: kinds[view.kind],
    actor: view.actor,
    reason: view.reason,
    stripeEventId: view.stripeEventId,
    stripeEventType: view.stripeEventType,
    subjectId: view.subjectId,
    changedFeatures: [...view.changedFeatures],
    before: (view.before?.entitlements ?? []).map(entitlementMessage),
    after: view.after.entitlements.map(entitlementMessage),
    computed: view.id === '',
    first: view.before === null,
  });
}
