/**
 * Which scope each service needs, and the methods that need another one
 * (CreateProject: a platform key, not a project's admin key; TrackUsage and
 * the reservation RPCs: usage:write, not entitlements:read). Health and
 * reflection are public.
 */
import type { DescMethod, DescService } from '@bufbuild/protobuf';
import { AdminService } from '../../gen/billing/v1/admin_pb.js';
import { CheckoutService } from '../../gen/billing/v1/checkout_pb.js';
import { EntitlementsService } from '../../gen/billing/v1/entitlements_pb.js';
import { MetricsService } from '../../gen/billing/v1/metrics_pb.js';
import type { ScopeName } from '../domain/api-keys.js';

const scopeByService = new Map<string, ScopeName>([
  [EntitlementsService.typeName, 'entitlements:read'],
  [CheckoutService.typeName, 'checkout:write'],
  [AdminService.typeName, 'admin'],
  [MetricsService.typeName, 'admin'],
]);

const scopeByMethod = new Map<string, ScopeName>([
  [`${AdminService.typeName}/${AdminService.method.createProject.name}`, 'platform:admin'],
  // Writes usage: a read-only key (or a customer token) must not spend a balance.
  ...[
    EntitlementsService.method.trackUsage,
    EntitlementsService.method.reserveUsage,
    EntitlementsService.method.commitReservation,
    EntitlementsService.method.releaseReservation,
  ].map((method) => [`${EntitlementsService.typeName}/${method.name}`, 'usage:write'] as const),
]);

export function requiredScope(service: DescService, method: DescMethod): ScopeName | undefined {
  return (
    scopeByMethod.get(`${service.typeName}/${method.name}`) ?? scopeByService.get(service.typeName)
  );
}
