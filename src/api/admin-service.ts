/**
 * AdminService handlers: validate, authorize, call the services. Methods not
 * listed here answer UNIMPLEMENTED (the router does that for a partial
 * implementation) until their issue lands.
 */
import { create } from '@bufbuild/protobuf';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import {
  type AdminService,
  type CatalogEntry,
  CreateApiKeyResponseSchema,
  GetCatalogResponseSchema,
  GetProjectResponseSchema,
  GrantEntitlementResponseSchema,
  ListApiKeysResponseSchema,
  ListGrantsResponseSchema,
  RevokeApiKeyResponseSchema,
  RevokeGrantResponseSchema,
  SetCatalogResponseSchema,
} from '../../gen/billing/v1/admin_pb.js';
import type { ScopeName } from '../domain/api-keys.js';
import type { ApiKeyService } from '../services/api-key-service.js';
import type { GrantService } from '../services/grant-service.js';
import type { ProjectService } from '../services/project-service.js';
import type { CatalogEntryDoc } from '../store/documents.js';
import { requirePrincipal } from './auth.js';
import {
  afterFromPageToken,
  apiKeyMessage,
  catalogEntryMessage,
  grantMessage,
  pageToken,
  projectMessage,
  scopeNameOf,
} from './convert.js';
import {
  invalid,
  limits,
  optionalLimit,
  pageSize,
  requireCustomerId,
  requireFeature,
  requireMatch,
  requireReason,
  requireText,
} from './validate.js';

export interface AdminServiceDeps {
  readonly projects: ProjectService;
  readonly apiKeys: ApiKeyService;
  readonly grants: GrantService;
  readonly now?: () => Date;
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

    async getCatalog(_req, context) {
      const principal = requirePrincipal(context);
      const project = await deps.projects.get(principal.projectId);
      if (!project) throw new ConnectError('project not found', Code.NotFound);
      return create(GetCatalogResponseSchema, {
        entries: project.catalog.map(catalogEntryMessage),
      });
    },

    async setCatalog(req, context) {
      const principal = requirePrincipal(context);
      const catalog = validCatalog(req.entries);
      const reason = requireReason(req.reason);
      const project = await deps.projects.setCatalog(
        principal.projectId,
        catalog,
        principal.keyId,
        reason,
      );
      return create(SetCatalogResponseSchema, {
        entries: project.catalog.map(catalogEntryMessage),
      });
    },

    async grantEntitlement(req, context) {
      const principal = requirePrincipal(context);
      const expiresAt = req.expiresAt ? timestampDate(req.expiresAt) : null;
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
      const grantId = requireMatch(
        'grant_id',
        req.grantId,
        /^gr_[a-z0-9]{9,40}$/,
        'a grant id (gr_...)',
      );
      const revoked = await deps.grants.revoke(
        principal.projectId,
        grantId,
        principal.keyId,
        requireReason(req.reason),
      );
      if (!revoked) throw new ConnectError(`grant ${grantId} not found`, Code.NotFound);
      return create(RevokeGrantResponseSchema, { grant: grantMessage(revoked) });
    },

    async listGrants(req, context) {
      const principal = requirePrincipal(context);
      const limit = pageSize(req.pageSize);
      const grants = await deps.grants.list(principal.projectId, {
        customerId: req.customerId ? requireCustomerId(req.customerId) : undefined,
        activeAt: req.includeInactive ? undefined : (deps.now?.() ?? new Date()),
        limit: limit + 1,
        after: afterFromPageToken(req.pageToken),
      });
      const page = grants.slice(0, limit);
      return create(ListGrantsResponseSchema, {
        grants: page.map(grantMessage),
        nextPageToken: grants.length > limit ? pageToken(page.at(-1)?._id) : '',
      });
    },
  };
}

const maxCatalogEntries = 500;
const maxFeaturesPerEntry = 50;

function validCatalog(entries: readonly CatalogEntry[]): CatalogEntryDoc[] {
  if (entries.length > maxCatalogEntries)
    throw invalid('entries', `at most ${maxCatalogEntries} entries`);
  const seen = new Set<string>();
  return entries.map((entry, index) => {
    const field = `entries[${index}]`;
    requireMatch(
      `${field}.stripe_id`,
      entry.stripeId,
      /^(price|prod)_[A-Za-z0-9_]{1,200}$/,
      'a Stripe price or product id',
    );
    if (seen.has(entry.stripeId))
      throw invalid(`${field}.stripe_id`, `${entry.stripeId} appears twice`);
    seen.add(entry.stripeId);
    if (entry.features.length === 0)
      throw invalid(`${field}.features`, 'at least one feature is required');
    if (entry.features.length > maxFeaturesPerEntry)
      throw invalid(`${field}.features`, `at most ${maxFeaturesPerEntry}`);
    return {
      stripe_id: entry.stripeId,
      features: entry.features.map((feature, j) => ({
        feature: requireFeature(`${field}.features[${j}].feature`, feature.feature),
        limit: optionalLimit(`${field}.features[${j}].limit`, feature.limit),
        limit_per_unit: feature.limitPerUnit,
      })),
    };
  });
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
