/** Catalog handlers: Stripe price or product ids to features. */
import { create } from '@bufbuild/protobuf';
import {
  type CatalogEntry,
  GetCatalogResponseSchema,
  SetCatalogResponseSchema,
} from '../../../gen/billing/v1/admin_pb.js';
import { NotFoundError } from '../../domain/errors.js';
import type { CatalogEntryRecord } from '../../domain/records.js';
import { requirePrincipal } from '../auth.js';
import { catalogEntryMessage } from '../convert.js';
import {
  invalid,
  optionalLimit,
  requireFeature,
  requireMatch,
  requireReason,
} from '../validate.js';
import type { AdminRoutesDeps, CatalogHandlers } from './admin-routes-deps.js';

export function catalogHandlers(deps: AdminRoutesDeps): CatalogHandlers {
  return {
    async getCatalog(_req, context) {
      const principal = requirePrincipal(context);
      const project = await deps.projects.get(principal.projectId);
      if (!project) throw new NotFoundError('project');
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
  };
}

const maxCatalogEntries = 500;
const maxFeaturesPerEntry = 50;

function validCatalog(entries: readonly CatalogEntry[]): CatalogEntryRecord[] {
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
