/** Every Connect service this server offers, wired to its dependencies. */
import type { ConnectRouter } from '@connectrpc/connect';
import { AdminService } from '../../gen/billing/v1/admin_pb.js';
import { CheckoutService } from '../../gen/billing/v1/checkout_pb.js';
import { EntitlementsService } from '../../gen/billing/v1/entitlements_pb.js';
import { MetricsService } from '../../gen/billing/v1/metrics_pb.js';
import type { Logger } from '../logger.js';
import { type AdminRoutesDeps, adminHandlers } from './admin/admin-routes.js';
import { type CheckoutRoutesDeps, checkoutHandlers } from './checkout-routes.js';
import { type EntitlementsRoutesDeps, entitlementsHandlers } from './entitlements-routes.js';
import { type IdempotencyRecords, withIdempotency } from './idempotency.js';
import { type MetricsRoutesDeps, metricsHandlers } from './metrics-routes.js';

export const billingServices = [
  EntitlementsService,
  CheckoutService,
  AdminService,
  MetricsService,
] as const;

export type BillingRoutesDeps = AdminRoutesDeps &
  EntitlementsRoutesDeps &
  CheckoutRoutesDeps &
  MetricsRoutesDeps & {
    /** Write RPCs with an idempotency_key run once per key. */
    readonly idempotency: IdempotencyRecords;
    /** Failures to release an idempotency key are logged. */
    readonly logger: Logger;
  };

export function billingRoutes(deps: BillingRoutesDeps): (router: ConnectRouter) => void {
  return (router) => {
    router.service(
      AdminService,
      withIdempotency(AdminService, adminHandlers(deps), deps.idempotency, deps.logger),
    );
    router.service(EntitlementsService, entitlementsHandlers(deps));
    router.service(
      CheckoutService,
      withIdempotency(CheckoutService, checkoutHandlers(deps), deps.idempotency, deps.logger),
    );
    router.service(MetricsService, metricsHandlers(deps));
  };
}
