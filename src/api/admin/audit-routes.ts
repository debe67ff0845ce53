/** The audit log: every write, newest first, filterable, page by page. */
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { AuditEntrySchema, ListAuditLogResponseSchema } from '../../../gen/billing/v1/admin_pb.js';
import type { AuditEntryRecord } from '../../domain/records.js';
import { requirePrincipal } from '../auth.js';
import { afterFromPageToken, pageToken } from '../convert.js';
import { invalid, optionalText, optionalTimestamp, pageSize } from '../validate.js';
import type { AdminRoutesDeps, AuditHandlers } from './admin-routes-deps.js';

export function auditHandlers(deps: AdminRoutesDeps): AuditHandlers {
  return {
    async listAuditLog(req, context) {
      const principal = requirePrincipal(context);
      const limit = pageSize(req.pageSize);
      const startTime = optionalTimestamp('start_time', req.startTime);
      const endTime = optionalTimestamp('end_time', req.endTime);
      if (startTime && endTime && endTime <= startTime)
        throw invalid('end_time', 'must be after start_time');
      const entries = await deps.auditLog.list(principal.projectId, {
        actor: optionalText('actor', req.actor, 200) || undefined,
        action: optionalText('action', req.action, 100) || undefined,
        target: optionalText('target', req.target, 300) || undefined,
        startTime,
        endTime,
        before: cursorOf(req.pageToken),
        limit: limit + 1,
      });
      const page = entries.slice(0, limit);
      const last = page.at(-1);
      return create(ListAuditLogResponseSchema, {
        entries: page.map(auditEntryMessage),
        nextPageToken:
          entries.length > limit && last ? pageToken(`${last.time.toISOString()}|${last._id}`) : '',
      });
    },
  };
}

/** An audit cursor: the ISO time and the UUID of the last entry seen. */
const cursorPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\|[0-9a-f-]{36}$/;

function cursorOf(token: string): { time: Date; id: string } | undefined {
  const decoded = afterFromPageToken(token, cursorPattern);
  if (decoded === undefined) return undefined;
  const [iso, id] = decoded.split('|');
  const time = new Date(iso ?? '');
  if (!id || Number.isNaN(time.getTime()))
    throw invalid('page_token', 'is not a token this service issued');
  return { time, id };
}

function auditEntryMessage(doc: AuditEntryRecord) {
  return create(AuditEntrySchema, {
    id: doc._id,
    actor: doc.actor,
    action: doc.action,
    target: doc.target,
    beforeJson: doc.before ? JSON.stringify(doc.before) : '',
    afterJson: doc.after ? JSON.stringify(doc.after) : '',
    reason: doc.reason,
    time: timestampFromDate(doc.time),
  });
}
