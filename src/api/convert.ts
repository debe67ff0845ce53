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
  type Grant,
  GrantSchema,
  type Project,
  ProjectSchema,
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
import type { Entitlement, SourceKind } from '../domain/entitlements.js';
import type {
  ApiKeyRecord,
  CatalogEntryRecord,
  GrantRecord,
  ProjectRecord,
} from '../domain/records.js';
import { coversRequest } from '../domain/usage-balance.js';
import { invalid } from './validate.js';

const scopeNames: ReadonlyMap<Scope, ScopeName> = new Map([
  [Scope.ENTITLEMENTS_READ, 'entitlements:read'],
  [Scope.CHECKOUT_WRITE, 'checkout:write'],
  [Scope.ADMIN, 'admin'],
]);

/** Undefined for SCOPE_UNSPECIFIED and unknown enum numbers. */
export function scopeNameOf(scope: Scope): ScopeName | undefined {
  return scopeNames.get(scope);
}

function scopeOf(name: ScopeName): Scope {
  for (const [scope, candidate] of scopeNames) if (candidate === name) return scope;
  return Scope.UNSPECIFIED;
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
};

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
    denialReason: entitlement.allowed && !covered ? DenialReason.INSUFFICIENT_BALANCE : undefined,
    usage: metered ? BigInt(metered.usage) : undefined,
    balance: metered && metered.balance !== null ? BigInt(metered.balance) : undefined,
    resetsAt: metered ? timestampFromDate(metered.resetsAt) : undefined,
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
    features: doc.features.map((f) =>
      create(CatalogFeatureSchema, {
        feature: f.feature,
        limit: f.limit === null ? undefined : BigInt(f.limit),
        limitPerUnit: f.limit_per_unit,
      }),
    ),
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
export function afterFromPageToken(token: string, idPattern: RegExp): string | undefined {
  if (token === '') return undefined;
  const decoded = Buffer.from(token, 'base64url').toString('utf8');
  if (pageToken(decoded) !== token || !idPattern.test(decoded)) {
    throw invalid('page_token', 'is not a token this service issued');
  }
  return decoded;
}
