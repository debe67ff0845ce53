/**
 * AdminService: operators' RPCs (grpcurl), admin scope only. One file per
 * area; methods of areas not built yet answer UNIMPLEMENTED (the router does
 * that for methods an implementation leaves out).
 */
import { apiKeyHandlers } from './api-keys.js';
import { auditHandlers } from './audit.js';
import { catalogHandlers } from './catalog.js';
import { grantHandlers } from './grants.js';
import { projectHandlers } from './projects.js';
import { reconciliationHandlers } from './reconciliation.js';
import type { AdminHandlers, AdminServiceDeps } from './types.js';
import { webhookEventHandlers } from './webhook-events.js';

export type { AdminServiceDeps } from './types.js';

export function createAdminService(deps: AdminServiceDeps): AdminHandlers {
  return {
    ...projectHandlers(deps),
    ...apiKeyHandlers(deps),
    ...catalogHandlers(deps),
    ...grantHandlers(deps),
    ...auditHandlers(deps),
    ...reconciliationHandlers(deps),
    ...webhookEventHandlers(deps),
  };
}
