/** Conversions between domain records and API messages. */
import { create } from '@bufbuild/protobuf';
import {
  type Duration,
  DurationSchema,
  type Timestamp,
  timestampFromDate,
} from '@bufbuild/protobuf/wkt';
import {
  type ApiKey,
  ApiKeySchema,
  type CatalogEntry,
  CatalogEntrySchema,
  CatalogFeatureSchema,
  CreditPackSchema,
  FeatureKind,
  type Grant,
  GrantSchema,
  type MeteredFeature,
  MeteredFeatureSchema,
  OverageMode,
  type Project,
  ProjectSchema,
  ResetInterval,
  Scope,
} from '../../gen/billing/v1/admin_pb.js';
import {
  DenialReason,
  type Entitlement as EntitlementMessage,
  EntitlementSchema,
  EntitlementSourceKind,
  EntitlementSourceSchema,
} from '../../gen/billing/v1/entitlements_pb.js';
import type { ScopeName } from '../domain/api-keys.js';
import {
  type FeatureKindName,
  featureKindOf,
  type OverageModeName,
  type ResetIntervalName,
} from '../domain/catalog.js';
import type { DenialReasonName } from '../domain/denial-reasons.js';
import type { Entitlement, SourceKind } from '../domain/entitlements.js';
import type {
  ApiKeyRecord,
  CatalogEntryRecord,
  CatalogFeatureRecord,
  GrantRecord,
  MeteredFeatureRecord,
  ProjectRecord,
} from '../domain/records.js';
import { coversRequest } from '../domain/usage-balance.js';
import { invalid } from './validate.js';

const scopeNames: ReadonlyMap<Scope, ScopeName> = new Map([
  [Scope.ENTITLEMENTS_READ, 'entitlements:read'],
  [Scope.CHECKOUT_WRITE, 'checkout:write'],
  [Scope.USAGE_WRITE, 'usage:write'],
  [Scope.ADMIN, 'admin'],
]);

/** Undefined for SCOPE_UNSPECIFIED and unknown enum numbers. */
export function scopeNameOf(scope: Scope): ScopeName | undefined {
  return scopeNames.get(scope);
}

function scopeOf(name: ScopeName): Scope {
  return keyOf(scopeNames, name, Scope.UNSPECIFIED);
}

function keyOf<K, V>(map: ReadonlyMap<K, V>, value: V, fallback: K): K {
  for (const [key, candidate] of map) if (candidate === value) return key;
  return fallback;
}

const featureKindNames: ReadonlyMap<FeatureKind, FeatureKindName> = new Map([
  [FeatureKind.BOOLEAN, 'boolean'],
  [FeatureKind.LIMIT, 'limit'],
  [FeatureKind.METERED, 'metered'],
]);

/** Undefined for FEATURE_KIND_UNSPECIFIED and unknown enum numbers. */
export function featureKindNameOf(kind: FeatureKind): FeatureKindName | undefined {
  return featureKindNames.get(kind);
}

const resetIntervalNames: ReadonlyMap<ResetInterval, ResetIntervalName> = new Map([
  [ResetInterval.BILLING_PERIOD, 'billing_period'],
  [ResetInterval.DAY, 'day'],
  [ResetInterval.WEEK, 'week'],
  [ResetInterval.MONTH, 'month'],
  [ResetInterval.YEAR, 'year'],
  // Last, so that answers name the interval (keyOf takes the first match).
  [ResetInterval.UNSPECIFIED, 'billing_period'],
]);

/** Unspecified is the billing period; undefined for unknown enum numbers. */
export function resetIntervalNameOf(reset: ResetInterval): ResetIntervalName | undefined {
  return resetIntervalNames.get(reset);
}

const overageModeNames: ReadonlyMap<OverageMode, OverageModeName> = new Map([
  [OverageMode.BLOCK, 'block'],
  [OverageMode.ALLOW, 'allow'],
  [OverageMode.UNSPECIFIED, 'block'],
]);

/** Unspecified is block; undefined for unknown enum numbers. */
export function overageModeNameOf(overage: OverageMode): OverageModeName | undefined {
  return overageModeNames.get(overage);
}

export function timestampOrUndefined(date: Date | null | undefined): Timestamp | undefined {
  return date ? timestampFromDate(date) : undefined;
}

function durationFromSeconds(seconds: number): Duration {
  return create(DurationSchema, { seconds: BigInt(seconds) });
}

export function apiKeyMessage(doc: ApiKeyRecord): ApiKey {
  return create(ApiKeySchema, {
    id: doc._id,
    projectId: doc.project_id,
    name: doc.name,
    scopes: doc.scopes.map(scopeOf),
    createdAt: timestampFromDate(doc.created_at),
    revokedAt: timestampOrUndefined(doc.revoked_at),
    createdBy: doc.created_by,
  });
}

export function projectMessage(doc: ProjectRecord): Project {
  return create(ProjectSchema, {
    id: doc._id,
    name: doc.name,
    gracePeriod: durationFromSeconds(doc.grace_period_seconds),
    hasStripeSecretKey: doc.stripe_secret_key !== null,
    stripeSecretKeyLast4: doc.stripe_secret_key ? doc.stripe_secret_key.slice(-4) : '',
    hasWebhookSigningSecret: doc.webhook_signing_secret !== null,
    createdAt: timestampFromDate(doc.created_at),
    updatedAt: timestampFromDate(doc.updated_at),
  });
}

const sourceKinds: Record<SourceKind, EntitlementSourceKind> = {
  subscription: EntitlementSourceKind.SUBSCRIPTION,
  purchase: EntitlementSourceKind.PURCHASE,
  grant: EntitlementSourceKind.GRANT,
  credits: EntitlementSourceKind.CREDITS,
};

const denialReasons: Record<DenialReasonName, DenialReason> = {
  unknown_feature: DenialReason.UNKNOWN_FEATURE,
  no_source: DenialReason.NO_SOURCE,
  past_grace: DenialReason.PAST_GRACE,
  subscription_ended: DenialReason.SUBSCRIPTION_ENDED,
};

/** Why the answer is no: the engine's reason, or a balance that does not cover the request. */
function deniedFor(entitlement: Entitlement, covered: boolean): DenialReason {
  if (!entitlement.allowed) {
    return entitlement.denialReason
      ? denialReasons[entitlement.denialReason]
      : DenialReason.UNSPECIFIED;
  }
  return covered ? DenialReason.UNSPECIFIED : DenialReason.INSUFFICIENT_BALANCE;
}

/** A metered feature is allowed only while its balance covers 1 unit (under block). */
export function entitlementMessage(entitlement: Entitlement): EntitlementMessage {
  return entitlementMessageFor(entitlement, 1);
}

/** As entitlementMessage, for CheckEntitlement's requested_amount. */
export function entitlementMessageFor(
  entitlement: Entitlement,
  requested: number,
): EntitlementMessage {
  const metered = entitlement.metered;
  const covered = !metered || coversRequest(metered, requested);
  return create(EntitlementSchema, {
    feature: entitlement.feature,
    allowed: entitlement.allowed && covered,
    denialReason: deniedFor(entitlement, covered),
    usage: metered ? BigInt(metered.usage) : undefined,
    balance: metered && metered.balance !== null ? BigInt(metered.balance) : undefined,
    resetsAt: metered ? timestampFromDate(metered.resetsAt) : undefined,
    // Sets cached before reservations and credits existed lack them: none.
    reserved: metered ? BigInt(metered.reserved ?? 0) : undefined,
    credits: metered ? BigInt(metered.credits ?? 0) : undefined,
    limit: entitlement.limit === null ? undefined : BigInt(entitlement.limit),
    validUntil: timestampOrUndefined(entitlement.validUntil),
    sources: entitlement.sources.map((source) =>
      create(EntitlementSourceSchema, {
        kind: sourceKinds[source.kind],
        id: source.id,
        limit: source.limit === null ? undefined : BigInt(source.limit),
        validUntil: timestampOrUndefined(source.validUntil),
        status: source.status ?? '',
        catalogId: source.catalogId ?? '',
      }),
    ),
  });
}

export function grantMessage(doc: GrantRecord): Grant {
  return create(GrantSchema, {
    id: doc._id,
    customerId: doc.customer_id,
    feature: doc.feature,
    limit: doc.limit === null ? undefined : BigInt(doc.limit),
    expiresAt: timestampOrUndefined(doc.expires_at),
    reason: doc.reason,
    actor: doc.actor,
    createdAt: timestampFromDate(doc.created_at),
    revokedAt: timestampOrUndefined(doc.revoked_at),
    revokedBy: doc.revoked_by ?? '',
    revokeReason: doc.revoke_reason ?? '',
  });
}

export function catalogEntryMessage(doc: CatalogEntryRecord): CatalogEntry {
  return create(CatalogEntrySchema, {
    stripeId: doc.stripe_id,
    features: doc.features.map(catalogFeatureMessage),
  });
}

function catalogFeatureMessage(doc: CatalogFeatureRecord) {
  const kind = featureKindOf(doc);
  return create(CatalogFeatureSchema, {
    feature: doc.feature,
    limit: doc.limit === null ? undefined : BigInt(doc.limit),
    limitPerUnit: doc.limit_per_unit,
    kind: keyOf(featureKindNames, kind, FeatureKind.UNSPECIFIED),
    metered: kind === 'metered' && doc.metered ? meteredFeatureMessage(doc.metered) : undefined,
    creditPack:
      kind === 'metered' && doc.credit_pack
        ? create(CreditPackSchema, {
            amountPerUnit: BigInt(doc.credit_pack.amount_per_unit),
            expiresAfterDays: doc.credit_pack.expires_after_days,
          })
        : undefined,
  });
}

function meteredFeatureMessage(doc: MeteredFeatureRecord): MeteredFeature {
  return create(MeteredFeatureSchema, {
    allowance: BigInt(doc.allowance),
    allowancePerUnit: doc.allowance_per_unit,
    reset: keyOf(resetIntervalNames, doc.reset, ResetInterval.UNSPECIFIED),
    overage: keyOf(overageModeNames, doc.overage, OverageMode.UNSPECIFIED),
    stripeMeterEventName: doc.stripe_meter_event_name ?? '',
  });
}

/** Page tokens are opaque to callers: the last id seen, base64url. */
export function pageToken(lastId: string | undefined): string {
  return lastId ? Buffer.from(lastId, 'utf8').toString('base64url') : '';
}

/**
 * The last id a page token carries (undefined: the first page). A token this
 * service could not have issued is refused rather than read as some other
 * cursor: it must be canonical base64url of an id of the expected shape.
 */
export function afterFromPageToken(
  token: string,
  idPattern: Pick<RegExp, 'test'>,
): string | undefined {
  if (token === '') return undefined;
  const decoded = Buffer.from(token, 'base64url').toString('utf8');
  if (pageToken(decoded) !== token || !idPattern.test(decoded)) {
    throw invalid('page_token', 'is not a token this service issued');
  }
  return decoded;
}
