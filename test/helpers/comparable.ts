/**
 * Entitlement sets in a form that compares by content: the engine's sets
 * (an oracle's, or computed from MongoDB) and the RPC's answers alike, with
 * sources in a canonical order. Ids can be renamed (for example to logical
 * names, when two runs create different Stripe ids for the same history).
 */
import type { Timestamp } from '@bufbuild/protobuf/wkt';
import {
  type Entitlement as EntitlementMessage,
  EntitlementSourceKind,
} from '../../gen/billing/v1/entitlements_pb.js';
import type { EntitlementSet } from '../../src/domain/entitlements.js';

export interface ComparableSource {
  readonly kind: string;
  readonly id: string;
  readonly limit: number | null;
  readonly validUntil: number | null;
  readonly status: string | null;
  readonly catalogId: string | null;
}

export interface ComparableEntitlement {
  readonly feature: string;
  readonly allowed: boolean;
  readonly limit: number | null;
  readonly validUntil: number | null;
  readonly sources: readonly ComparableSource[];
}

export interface ComparableSet {
  readonly validUntil: number | null;
  readonly entitlements: readonly ComparableEntitlement[];
}

/** Sources in a canonical order: the service lists them in the order MongoDB returned them. */
function sortedSources(sources: ComparableSource[]): ComparableSource[] {
  return sources
    .map((source) => ({ key: JSON.stringify(source), source }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map(({ source }) => source);
}

/** An engine set (the oracle's, or `app.entitlements.compute`'s), comparable. */
export function comparableSet(
  set: EntitlementSet,
  renameId: (id: string) => string = (id) => id,
): ComparableSet {
  return {
    validUntil: set.validUntil?.getTime() ?? null,
    entitlements: set.entitlements.map((entitlement) => ({
      feature: entitlement.feature,
      allowed: entitlement.allowed,
      limit: entitlement.limit,
      validUntil: entitlement.validUntil?.getTime() ?? null,
      sources: sortedSources(
        entitlement.sources.map((source) => ({
          kind: source.kind,
          id: renameId(source.id),
          limit: source.limit,
          validUntil: source.validUntil?.getTime() ?? null,
          status: source.status,
          catalogId: source.catalogId,
        })),
      ),
    })),
  };
}

const kindNames: ReadonlyMap<EntitlementSourceKind, string> = new Map([
  [EntitlementSourceKind.SUBSCRIPTION, 'subscription'],
  [EntitlementSourceKind.PURCHASE, 'purchase'],
  [EntitlementSourceKind.GRANT, 'grant'],
]);

const millis = (timestamp: Timestamp | undefined): number | null =>
  timestamp === undefined
    ? null
    : Number(timestamp.seconds) * 1000 + Math.floor(timestamp.nanos / 1_000_000);

const limitOf = (limit: bigint | undefined): number | null =>
  limit === undefined ? null : Number(limit);

/** A ListEntitlements answer, comparable with `comparableSet`. */
export function comparableMessages(
  response: { entitlements: EntitlementMessage[]; validUntil?: Timestamp | undefined },
  renameId: (id: string) => string = (id) => id,
): ComparableSet {
  return {
    validUntil: millis(response.validUntil),
    entitlements: response.entitlements.map((entitlement) => ({
      feature: entitlement.feature,
      allowed: entitlement.allowed,
      limit: limitOf(entitlement.limit),
      validUntil: millis(entitlement.validUntil),
      sources: sortedSources(
        entitlement.sources.map((source) => ({
          kind: kindNames.get(source.kind) ?? `unknown ${source.kind}`,
          id: renameId(source.id),
          limit: limitOf(source.limit),
          validUntil: millis(source.validUntil),
          status: source.status === '' ? null : source.status,
          catalogId: source.catalogId === '' ? null : source.catalogId,
        })),
      ),
    })),
  };
}

/** JSON with object keys sorted: values compare by content, not by field order. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (inner === null || typeof inner !== 'object' || Array.isArray(inner)) return inner;
    const sorted: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : 1))) {
      sorted[key] = field;
    }
    return sorted;
  });
}

export interface Difference {
  readonly key: string;
  /** Per differing top-level field (or `value` for the whole): expected, then actual. */
  readonly fields: Record<string, { expected: unknown; actual: unknown }>;
}

/** The keys whose values differ, with only the differing fields. */
export function differences<T>(
  expected: ReadonlyMap<string, T>,
  actual: ReadonlyMap<string, T>,
): Difference[] {
  const keys = new Set([...expected.keys(), ...actual.keys()]);
  const out: Difference[] = [];
  for (const key of keys) {
    const a = expected.get(key);
    const b = actual.get(key);
    if (canonical(a) === canonical(b)) continue;
    const fields: Difference['fields'] = {};
    if (isRecord(a) && isRecord(b)) {
      for (const field of new Set([...Object.keys(a), ...Object.keys(b)])) {
        if (canonical(a[field]) !== canonical(b[field])) {
          fields[field] = { expected: a[field], actual: b[field] };
        }
      }
    } else {
      fields.value = { expected: a, actual: b };
    }
    out.push({ key, fields });
  }
  return out;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
