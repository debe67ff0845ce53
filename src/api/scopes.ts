/** Which scope each service needs. Health and reflection are public. */
import type { DescService } from '@bufbuild/protobuf';
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

export function requiredScope(service: DescService): ScopeName | undefined {
  return scopeByService.get(service.typeName);
}
