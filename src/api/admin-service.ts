/**
 * AdminService handlers: validate, authorize, call the services. Methods not
 * listed here answer UNIMPLEMENTED (the router does that for a partial
 * implementation) until their issue lands.
 */
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import {
  type AdminService,
  CreateApiKeyResponseSchema,
  GetProjectResponseSchema,
  ListApiKeysResponseSchema,
  RevokeApiKeyResponseSchema,
} from '../../gen/billing/v1/admin_pb.js';
import type { ScopeName } from '../domain/api-keys.js';
import type { ApiKeyService } from '../services/api-key-service.js';
import type { ProjectService } from '../services/project-service.js';
import { requirePrincipal } from './auth.js';
import { apiKeyMessage, projectMessage, scopeNameOf } from './convert.js';
import { invalid, limits, requireMatch, requireText } from './validate.js';

export interface AdminServiceDeps {
  readonly projects: ProjectService;
  readonly apiKeys: ApiKeyService;
}

export function createAdminService(
  deps: AdminServiceDeps,
): Partial<ServiceImpl<typeof AdminService>> {
  return {
    async getProject(_req, context) {
      const principal = requirePrincipal(context);
      const project = await deps.projects.get(principal.projectId);
      if (!project) throw new ConnectError('project not found', Code.NotFound);
      return create(GetProjectResponseSchema, { project: projectMessage(project) });
    },

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
      if (!revoked) throw new ConnectError(`api key ${keyId} not found`, Code.NotFound);
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
