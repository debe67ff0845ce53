import type { ServiceImpl } from '@connectrpc/connect';
import type { AdminService } from '../../../gen/billing/v1/admin_pb.js';
import type {
  AuditEntryRecord,
  AuditQuery,
  AuditRecord,
  CustomerLinkRecord,
} from '../../domain/records.js';
import type { ApiKeyService } from '../../services/api-key-service.js';
import type { CreditService } from '../../services/credit-service.js';
import type { GrantService } from '../../services/grant-service.js';
import type { ProjectService } from '../../services/project-service.js';
import type { ReconciliationService } from '../../services/reconciliation-service.js';
import type { WebhookEndpointService } from '../../services/webhook-endpoint-service.js';
import type { WebhookEventService } from '../../services/webhook-event-service.js';

/** What the admin handlers call on each service (the classes satisfy these; tests pass fakes). */
export type ProjectAdmin = Pick<ProjectService, 'create' | 'get' | 'update' | 'setCatalog'>;
export type ApiKeyAdmin = Pick<ApiKeyService, 'create' | 'list' | 'revoke'>;
export type GrantAdmin = Pick<GrantService, 'grant' | 'revoke' | 'list'>;
export type CreditAdmin = Pick<CreditService, 'grant' | 'revoke' | 'list'>;
export type ReconciliationAdmin = Pick<ReconciliationService, 'start' | 'get' | 'list'>;
export type WebhookEventAdmin = Pick<WebhookEventService, 'list' | 'replay'>;
export type WebhookEndpointAdmin = Pick<
  WebhookEndpointService,
  'create' | 'list' | 'update' | 'delete' | 'listDeliveries' | 'getDelivery' | 'replay'
>;

/** The audit trail as the admin handlers use it (AuditLogStore in production). */
export interface AuditLog {
  append(record: AuditRecord): Promise<unknown>;
  list(projectId: string, query: AuditQuery): Promise<AuditEntryRecord[]>;
}

/** Customer links as the admin handlers look them up (CustomerStore in production). */
export interface CustomerDirectory {
  find(projectId: string, query: string): Promise<CustomerLinkRecord[]>;
}

export interface AdminRoutesDeps {
  readonly projects: ProjectAdmin;
  readonly apiKeys: ApiKeyAdmin;
  readonly grants: GrantAdmin;
  readonly credits: CreditAdmin;
  readonly auditLog: AuditLog;
  readonly customers: CustomerDirectory;
  readonly reconciliation: ReconciliationAdmin;
  readonly webhookEvents: WebhookEventAdmin;
  readonly webhookEndpoints: WebhookEndpointAdmin;
  readonly now?: () => Date;
}

type AdminImpl = ServiceImpl<typeof AdminService>;

/** Each area's file implements exactly these methods; adminHandlers checks that they add up. */
export type ProjectHandlers = Pick<
  AdminImpl,
  'createProject' | 'getProject' | 'updateProject' | 'rotateWebhookSecret'
>;
export type ApiKeyHandlers = Pick<AdminImpl, 'createApiKey' | 'listApiKeys' | 'revokeApiKey'>;
export type CatalogHandlers = Pick<AdminImpl, 'getCatalog' | 'setCatalog'>;
export type GrantHandlers = Pick<AdminImpl, 'grantEntitlement' | 'revokeGrant' | 'listGrants'>;
export type CreditHandlers = Pick<AdminImpl, 'grantCredits' | 'revokeCredits' | 'listCredits'>;
export type AuditHandlers = Pick<AdminImpl, 'listAuditLog'>;
export type CustomerHandlers = Pick<AdminImpl, 'findCustomers'>;
export type ReconciliationHandlers = Pick<
  AdminImpl,
  'triggerReconciliation' | 'getReconciliationRun' | 'listReconciliationRuns'
>;
export type WebhookEventHandlers = Pick<AdminImpl, 'listWebhookEvents' | 'replayWebhookEvent'>;
export type WebhookEndpointHandlers = Pick<
  AdminImpl,
  | 'createWebhookEndpoint'
  | 'listWebhookEndpoints'
  | 'updateWebhookEndpoint'
  | 'deleteWebhookEndpoint'
  | 'listWebhookDeliveries'
  | 'getWebhookDelivery'
  | 'replayWebhookDelivery'
>;
