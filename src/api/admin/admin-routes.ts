/**
 * AdminService: operators' RPCs (grpcurl), admin scope only. One file per
 * area; methods of areas not built yet answer UNIMPLEMENTED (the router does
 * that for methods an implementation leaves out).
 */

import type { AdminHandlers, AdminRoutesDeps } from './admin-routes-deps.js';
import { apiKeyHandlers } from './api-key-routes.js';
import { auditHandlers } from './audit-routes.js';
import { catalogHandlers } from './catalog-routes.js';
import { grantHandlers } from './grant-routes.js';
import { projectHandlers } from './project-routes.js';
import { reconciliationHandlers } from './reconciliation-routes.js';
import { webhookEventHandlers } from './webhook-event-routes.js';

export type { AdminRoutesDeps } from './admin-routes-deps.js';

export function adminHandlers(deps: AdminRoutesDeps): AdminHandlers {
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
