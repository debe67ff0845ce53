/** EntitlementsService handlers: validate, authorize, answer from EntitlementService. */
import { create } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import {
  CheckEntitlementResponseSchema,
  type EntitlementsService,
  ListEntitlementsResponseSchema,
} from '../../gen/billing/v1/entitlements_pb.js';
import type { EntitlementService } from '../services/entitlement-service.js';
import { requirePrincipal } from './auth.js';
import { entitlementMessage, timestampOrUndefined } from './convert.js';
import { requireCustomerId, requireFeature } from './validate.js';

export interface EntitlementsServiceDeps {
  readonly entitlements: EntitlementService;
}

export function createEntitlementsService(
  deps: EntitlementsServiceDeps,
): Partial<ServiceImpl<typeof EntitlementsService>> {
  return {
    async checkEntitlement(req, context) {
      const principal = requirePrincipal(context);
      const customerId = requireCustomerId(req.customerId);
      const feature = requireFeature('feature', req.feature);
      const entitlement = await deps.entitlements.check(principal.projectId, customerId, feature);
      return create(CheckEntitlementResponseSchema, {
        entitlement: entitlementMessage(entitlement),
      });
    },

    async listEntitlements(req, context) {
      const principal = requirePrincipal(context);
      const set = await deps.entitlements.list(
        principal.projectId,
        requireCustomerId(req.customerId),
      );
      return create(ListEntitlementsResponseSchema, {
        entitlements: set.entitlements.map(entitlementMessage),
        validUntil: timestampOrUndefined(set.validUntil),
      });
    },
  };
}
