import type { ServiceImpl } from '@connectrpc/connect';
import type { AdminService } from '../../../gen/billing/v1/admin_pb.js';
import type { ApiKeyService } from '../../services/api-key-service.js';
import type { GrantService } from '../../services/grant-service.js';
import type { ProjectService } from '../../services/project-service.js';
import type { ReconciliationService } from '../../services/reconciliation-service.js';
import type { WebhookEventService } from '../../services/webhook-event-service.js';
import type { AuditLogStore } from '../../store/audit-log-store.js';

export interface AdminRoutesDeps {
  readonly projects: ProjectService;
  readonly apiKeys: ApiKeyService;
  readonly grants: GrantService;
  readonly auditLog: AuditLogStore;
  readonly reconciliation: ReconciliationService;
  readonly webhookEvents: WebhookEventService;
  readonly now?: () => Date;
}

/** A slice of AdminService: each file implements the methods of one area. */
export type AdminHandlers = Partial<ServiceImpl<typeof AdminService>>;
