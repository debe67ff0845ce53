/** API key handlers: create (secret shown once), list, revoke. */
import { create } from '@bufbuild/protobuf';
import {
  CreateApiKeyResponseSchema,
  ListApiKeysResponseSchema,
  RevokeApiKeyResponseSchema,
} from '../../../gen/billing/v1/admin_pb.js';
import type { ScopeName } from '../../domain/api-keys.js';
import { requirePrincipal } from '../auth.js';
import { apiKeyMessage, scopeNameOf } from '../convert.js';
import { invalid, limits, requireMatch, requireText } from '../validate.js';
import type { AdminRoutesDeps, ApiKeyHandlers } from './admin-routes-deps.js';

export function apiKeyHandlers(deps: AdminRoutesDeps): ApiKeyHandlers {
  return {
    async createApiKey(req, context) {
      const principal = requirePrincipal(context);
      const created = await deps.apiKeys.create({
        projectId: principal.projectId,
        name: requireText('name', req.name, limits.name),
        scopes: validScopes(req.scopes),
        actor: principal.keyId,
        reason: requireText('reason', req.reason, limits.reason),
      });
      return create(CreateApiKeyResponseSchema, {
        key: apiKeyMessage(created.key),
        secret: created.secret,
      });
    },

    async listApiKeys(req, context) {
      const principal = requirePrincipal(context);
      const keys = await deps.apiKeys.list(principal.projectId, req.includeRevoked);
      return create(ListApiKeysResponseSchema, { keys: keys.map(apiKeyMessage) });
    },

    async revokeApiKey(req, context) {
      const principal = requirePrincipal(context);
      const keyId = requireMatch(
        'key_id',
        req.keyId,
        /^[a-f0-9]{16}$/,
        '16 lower-case hex characters',
      );
      const reason = requireText('reason', req.reason, limits.reason);
      // Another project's key is reported exactly like a missing one, so a
      // caller learns nothing about other projects.
      const revoked = await deps.apiKeys.revoke(
        principal.projectId,
        keyId,
        principal.keyId,
        reason,
      );
      return create(RevokeApiKeyResponseSchema, { key: apiKeyMessage(revoked) });
    },
  };
}

function validScopes(requested: readonly number[]): ScopeName[] {
  if (requested.length === 0) throw invalid('scopes', 'at least one scope is required');
  const names = new Set<ScopeName>();
  for (const scope of requested) {
    const name = scopeNameOf(scope);
    if (!name) throw invalid('scopes', `unknown scope ${scope}`);
    names.add(name);
  }
  return [...names];
}
