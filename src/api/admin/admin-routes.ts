/**
 * AdminService: operators' RPCs (grpcurl), admin scope only. One file per
 * area; together they implement every method of the service (the return
 * type checks that none is missing).
 */
import type { ServiceImpl } from '@connectrpc/connect';
import type { AdminService } from '../../../gen/billing/v1/admin_pb.js';
import type { AdminRoutesDeps } from './admin-routes-deps.js';
import { apiKeyHandlers } from './api-key-routes.js';
import { auditHandlers } from './audit-routes.js';
import { catalogHandlers } from './catalog-routes.js';
import { creditHandlers } from './credit-routes.js';
import { customerHandlers } from './customer-routes.js';
import { grantHandlers } from './grant-routes.js';
import { projectHandlers } from './project-routes.js';
import { reconciliationHandlers } from './reconciliation-routes.js';
import { webhookEndpointHandlers } from './webhook-endpoint-routes.js';
import { webhookEventHandlers } from './webhook-event-routes.js';

export type { AdminRoutesDeps } from './admin-routes-deps.js';

export function adminHandlers(deps: AdminRoutesDeps): ServiceImpl<typeof AdminService> {
  return {
    ...projectHandlers(deps),
    ...apiKeyHandlers(deps),
    ...catalogHandlers(deps),
    ...customerHandlers(deps),
    ...grantHandlers(deps),
    ...creditHandlers(deps),
    ...auditHandlers(deps),
    ...reconciliationHandlers(deps),
    ...webhookEventHandlers(deps),
    ...webhookEndpointHandlers(deps),
  };
}
