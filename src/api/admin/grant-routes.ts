/** Grant handlers: manual entitlements from operators. */
import { create } from '@bufbuild/protobuf';
import {
  GrantEntitlementResponseSchema,
  ListGrantsResponseSchema,
  RevokeGrantResponseSchema,
} from '../../../gen/billing/v1/admin_pb.js';
import { requirePrincipal } from '../auth.js';
import { afterFromPageToken, grantMessage, pageToken } from '../convert.js';
import {
  invalid,
  optionalLimit,
  optionalTimestamp,
  pageSize,
  requireCustomerId,
  requireFeature,
  requireMatch,
  requireReason,
} from '../validate.js';
import type { AdminRoutesDeps, GrantHandlers } from './admin-routes-deps.js';

const grantIdPattern = /^gr_[a-z0-9]{9,40}$/;

export function grantHandlers(deps: AdminRoutesDeps): GrantHandlers {
  return {
    async grantEntitlement(req, context) {
      const principal = requirePrincipal(context);
      const expiresAt = optionalTimestamp('expires_at', req.expiresAt) ?? null;
      if (expiresAt && expiresAt.getTime() <= (deps.now?.() ?? new Date()).getTime()) {
        throw invalid('expires_at', 'must be in the future');
      }
      const grant = await deps.grants.grant({
        projectId: principal.projectId,
        customerId: requireCustomerId(req.customerId),
        feature: requireFeature('feature', req.feature),
        limit: optionalLimit('limit', req.limit),
        expiresAt,
        actor: principal.keyId,
        reason: requireReason(req.reason),
      });
      return create(GrantEntitlementResponseSchema, { grant: grantMessage(grant) });
    },

    async revokeGrant(req, context) {
      const principal = requirePrincipal(context);
      const grantId = requireMatch('grant_id', req.grantId, grantIdPattern, 'a grant id (gr_...)');
      const revoked = await deps.grants.revoke(
        principal.projectId,
        grantId,
        principal.keyId,
        requireReason(req.reason),
      );
      return create(RevokeGrantResponseSchema, { grant: grantMessage(revoked) });
    },

    async listGrants(req, context) {
      const principal = requirePrincipal(context);
      const limit = pageSize(req.pageSize);
      const grants = await deps.grants.list(principal.projectId, {
        customerId: req.customerId ? requireCustomerId(req.customerId) : undefined,
        activeAt: req.includeInactive ? undefined : (deps.now?.() ?? new Date()),
        limit: limit + 1,
        after: afterFromPageToken(req.pageToken, grantIdPattern),
      });
      const page = grants.slice(0, limit);
      return create(ListGrantsResponseSchema, {
        grants: page.map(grantMessage),
        nextPageToken: grants.length > limit ? pageToken(page.at(-1)?._id) : '',
      });
    },
  };
}
