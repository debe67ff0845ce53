/** Catalog handlers: Stripe price or product ids to features. */
import { create } from '@bufbuild/protobuf';
import {
  type CatalogEntry,
  type CatalogFeature,
  type CreditPack,
  FeatureKind,
  GetCatalogResponseSchema,
  type MeteredFeature,
  SetCatalogResponseSchema,
} from '../../../gen/billing/v1/admin_pb.js';
import { featureKindOf, mixedLimitFeatures } from '../../domain/catalog.js';
import { NotFoundError } from '../../domain/errors.js';
import type {
  CatalogEntryRecord,
  CatalogFeatureRecord,
  CreditPackRecord,
  MeteredFeatureRecord,
} from '../../domain/records.js';
import { requirePrincipal } from '../auth.js';
import {
  catalogEntryMessage,
  featureKindNameOf,
  overageModeNameOf,
  resetIntervalNameOf,
} from '../convert.js';
import {
  invalid,
  optionalLimit,
  optionalMeterEventName,
  requireFeature,
  requireMatch,
  requireReason,
  requireWholeNumber,
} from '../validate.js';
import type { AdminRoutesDeps, CatalogHandlers } from './admin-routes-deps.js';

export function catalogHandlers(deps: AdminRoutesDeps): CatalogHandlers {
  return {
    async getCatalog(_req, context) {
      const principal = requirePrincipal(context);
      const project = await deps.projects.get(principal.projectId);
      if (!project) throw new NotFoundError('project');
      return create(GetCatalogResponseSchema, {
        entries: withUnifiedKinds(project.catalog).map(catalogEntryMessage),
      });
    },

    async setCatalog(req, context) {
      const principal = requirePrincipal(context);
      const catalog = withUnifiedKinds(validCatalog(req.entries));
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

/** Boolean entries of a feature that is a limit elsewhere become limits (mixedLimitFeatures). */
function withUnifiedKinds(entries: readonly CatalogEntryRecord[]): CatalogEntryRecord[] {
  const mixed = mixedLimitFeatures(entries);
  return entries.map((entry) => ({
    ...entry,
    features: entry.features.map((feature) =>
      mixed.has(feature.feature) && featureKindOf(feature) === 'boolean'
        ? { ...feature, kind: 'limit' }
        : feature,
    ),
  }));
}

const maxCatalogEntries = 500;
const maxFeaturesPerEntry = 50;

function validCatalog(entries: readonly CatalogEntry[]): CatalogEntryRecord[] {
  if (entries.length > maxCatalogEntries)
    throw invalid('entries', `at most ${maxCatalogEntries} entries`);
  const seen = new Set<string>();
  const rules = new FeatureRulesSeen();
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
      features: entry.features.map((feature, j) => {
        const featureField = `${field}.features[${j}]`;
        const named = feature.kind !== FeatureKind.UNSPECIFIED;
        return rules.check(featureField, validFeature(featureField, feature), named);
      }),
    };
  });
}

/** Unspecified keeps the rule from before kinds: LIMIT when a limit is set, else BOOLEAN. */
function validFeature(field: string, feature: CatalogFeature): CatalogFeatureRecord {
  const name = requireFeature(`${field}.feature`, feature.feature);
  const kind =
    feature.kind === FeatureKind.UNSPECIFIED
      ? feature.limit === undefined
        ? 'boolean'
        : 'limit'
      : featureKindNameOf(feature.kind);
  if (kind === undefined) throw invalid(`${field}.kind`, 'is not a known feature kind');
  if (kind === 'metered') return validMeteredFeature(field, name, feature);
  if (feature.metered) throw invalid(`${field}.metered`, 'only for FEATURE_KIND_METERED features');
  if (feature.creditPack)
    throw invalid(`${field}.credit_pack`, 'only for FEATURE_KIND_METERED features');
  if (kind === 'boolean' && feature.limit !== undefined)
    throw invalid(`${field}.limit`, 'not for FEATURE_KIND_BOOLEAN features');
  return {
    feature: name,
    limit: optionalLimit(`${field}.limit`, feature.limit),
    limit_per_unit: feature.limitPerUnit,
    kind,
    metered: null,
  };
}

function validMeteredFeature(
  field: string,
  name: string,
  feature: CatalogFeature,
): CatalogFeatureRecord {
  if (feature.limit !== undefined)
    throw invalid(`${field}.limit`, 'not for METERED features: use metered.allowance');
  if (feature.limitPerUnit)
    throw invalid(
      `${field}.limit_per_unit`,
      'not for METERED features: use metered.allowance_per_unit',
    );
  if (!feature.metered) throw invalid(`${field}.metered`, 'is required for METERED features');
  const pack = feature.creditPack;
  return {
    feature: name,
    limit: null,
    limit_per_unit: false,
    kind: 'metered',
    metered: validMeteredRules(`${field}.metered`, feature.metered, pack !== undefined),
    ...(pack ? { credit_pack: validCreditPack(`${field}.credit_pack`, pack) } : {}),
  };
}

const maxPackAmount = 1e9;
const maxPackDays = 36_500;

function validCreditPack(field: string, pack: CreditPack): CreditPackRecord {
  return {
    amount_per_unit: requireWholeNumber(
      `${field}.amount_per_unit`,
      pack.amountPerUnit,
      1,
      maxPackAmount,
    ),
    expires_after_days: requireWholeNumber(
      `${field}.expires_after_days`,
      BigInt(pack.expiresAfterDays),
      0,
      maxPackDays,
    ),
  };
}

const maxAllowance = 1e12;

/** A credit pack gives credits, not a period allowance: its allowance stays unset (0). */
function validMeteredRules(
  field: string,
  metered: MeteredFeature,
  creditPack: boolean,
): MeteredFeatureRecord {
  if (creditPack && (metered.allowance !== 0n || metered.allowancePerUnit))
    throw invalid(`${field}.allowance`, 'a credit pack gives no period allowance: leave it unset');
  const reset = resetIntervalNameOf(metered.reset);
  if (reset === undefined) throw invalid(`${field}.reset`, 'is not a known reset interval');
  const overage = overageModeNameOf(metered.overage);
  if (overage === undefined) throw invalid(`${field}.overage`, 'is not a known overage mode');
  return {
    allowance: creditPack
      ? 0
      : requireWholeNumber(`${field}.allowance`, metered.allowance, 1, maxAllowance),
    allowance_per_unit: metered.allowancePerUnit,
    reset,
    overage,
    stripe_meter_event_name: optionalMeterEventName(
      `${field}.stripe_meter_event_name`,
      metered.stripeMeterEventName,
    ),
  };
}

/**
 * One feature is one thing whichever price gives it: the same kind, reset,
 * overage and Stripe meter in every entry. Limits and allowances may differ
 * (that is what plans are). An unspecified kind is read from the limit, so
 * a limit of 5 on one price and none (unlimited) on another stays valid as
 * before kinds: boolean and limit conflict only when both were named.
 */
class FeatureRulesSeen {
  private readonly first = new Map<string, SeenFeature>();

  check(field: string, feature: CatalogFeatureRecord, named: boolean): CatalogFeatureRecord {
    const earlier = this.first.get(feature.feature);
    if (!earlier) {
      this.first.set(feature.feature, { field, feature, named });
      return feature;
    }
    const differing = differingRule(earlier, { field, feature, named });
    if (differing)
      throw invalid(
        `${field}.${differing}`,
        `${feature.feature} must have the same ${differing} as in ${earlier.field}`,
      );
    return feature;
  }
}

interface SeenFeature {
  readonly field: string;
  readonly feature: CatalogFeatureRecord;
  /** The kind was given, not read from the limit. */
  readonly named: boolean;
}

function differingRule(a: SeenFeature, b: SeenFeature): string | undefined {
  const [x, y] = [a.feature, b.feature];
  if (x.kind !== y.kind && (x.kind === 'metered' || y.kind === 'metered' || (a.named && b.named)))
    return 'kind';
  if (!x.metered || !y.metered) return undefined;
  if (x.metered.reset !== y.metered.reset) return 'metered.reset';
  if (x.metered.overage !== y.metered.overage) return 'metered.overage';
  if (x.metered.stripe_meter_event_name !== y.metered.stripe_meter_event_name)
    return 'metered.stripe_meter_event_name';
  return undefined;
}
