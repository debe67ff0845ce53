/**
 * Entitlements as OpenFeature flags, for the OFREP endpoints (./ofrep.ts):
 * the flag key is the feature (a boolean: allowed), or the feature and one
 * of its figures after a slash (docs/api.md, "OFREP"):
 *
 * - `F`: boolean, allowed (a metered feature: allowed with a balance of at
 *   least 1, as CheckEntitlement answers);
 * - `F/limit`: integer, the limit (0 when not allowed; unlimited: no value,
 *   so the caller's default, with `unlimited: true` in the metadata);
 * - `F/balance`, `F/usage`: integers of a metered feature (0 when not
 *   allowed; an unlimited balance: no value);
 * - `F/entitlement`: object, the whole entitlement as ListEntitlements
 *   answers it in JSON.
 *
 * Every answer carries flag metadata (primitives only, as OpenFeature
 * wants): allowed, the denial reason, limit, usage, balance, the sources,
 * valid_until and the set's version. Feature keys cannot hold a slash, so a
 * key never means two things.
 */
import { type JsonObject, toJson } from '@bufbuild/protobuf';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import {
  DenialReason,
  type Entitlement as EntitlementMessage,
  EntitlementSchema,
  EntitlementSourceKind,
} from '../../gen/billing/v1/entitlements_pb.js';
import { type EntitlementSet, entitlementFor } from '../domain/entitlements.js';
import { entitlementMessageFor } from './convert.js';

export const figures = ['limit', 'balance', 'usage', 'entitlement'] as const;
export type Figure = (typeof figures)[number];

export type FlagMetadata = Readonly<Record<string, string | number | boolean>>;

/** One flag's answer: a value, or none (the caller's default), or not found. */
export type FlagAnswer =
  | {
      readonly kind: 'value';
      readonly key: string;
      readonly value: boolean | number | JsonObject | undefined;
      readonly variant: string;
      readonly metadata: FlagMetadata;
    }
  | { readonly kind: 'not_found'; readonly key: string; readonly details: string };

export interface FlagKey {
  readonly feature: string;
  /** Absent: the boolean flag. */
  readonly figure?: Figure;
}

/** `F` or `F/figure`; undefined for anything else (a flag that does not exist). */
export function parseFlagKey(key: string): FlagKey | undefined {
  const [feature, figure, ...rest] = key.split('/');
  if (!feature || rest.length > 0) return undefined;
  if (figure === undefined) return { feature };
  return (figures as readonly string[]).includes(figure)
    ? { feature, figure: figure as Figure }
    : undefined;
}

/** The flag `key` for one customer's set. */
export function evaluateFlag(set: EntitlementSet, key: string): FlagAnswer {
  const parsed = parseFlagKey(key);
  if (!parsed) return { kind: 'not_found', key, details: `no flag "${key}"` };
  const message = entitlementMessageFor(entitlementFor(set, parsed.feature), 1);
  if (message.denialReason === DenialReason.UNKNOWN_FEATURE) {
    return { kind: 'not_found', key, details: `no feature "${parsed.feature}" in this project` };
  }
  if (
    (parsed.figure === 'balance' || parsed.figure === 'usage') &&
    message.allowed &&
    message.usage === undefined
  ) {
    return { kind: 'not_found', key, details: `"${parsed.feature}" is not a metered feature` };
  }
  return {
    kind: 'value',
    key,
    value: flagValue(message, parsed.figure),
    variant: message.allowed ? 'allowed' : 'denied',
    metadata: metadataOf(message, set.version),
  };
}

/**
 * Every flag of the set's known features (allowed ones and those denied
 * with a reason): the boolean, the object, and the figures each one has.
 */
export function evaluateAllFlags(set: EntitlementSet): FlagAnswer[] {
  const features = [
    ...set.entitlements.map((e) => e.feature),
    ...(set.denials ?? []).map((d) => d.feature),
  ].sort();
  return features.flatMap((feature) => {
    const entitlement = set.entitlements.find((e) => e.feature === feature);
    const keys = [feature, `${feature}/entitlement`, `${feature}/limit`];
    if (entitlement?.metered) keys.push(`${feature}/balance`, `${feature}/usage`);
    return keys.map((key) => evaluateFlag(set, key));
  });
}

function flagValue(
  message: EntitlementMessage,
  figure: Figure | undefined,
): boolean | number | JsonObject | undefined {
  switch (figure) {
    case undefined:
      return message.allowed;
    case 'entitlement':
      return toJson(EntitlementSchema, message) as JsonObject;
    case 'limit':
      return message.allowed ? numberOrUnlimited(message.limit) : 0;
    case 'balance':
      return message.allowed ? numberOrUnlimited(message.balance) : 0;
    case 'usage':
      return message.usage === undefined ? 0 : Number(message.usage);
  }
}

/** Unlimited has no number: no value, so the caller's code default answers. */
const numberOrUnlimited = (value: bigint | undefined) =>
  value === undefined ? undefined : Number(value);

function metadataOf(message: EntitlementMessage, version: number | undefined): FlagMetadata {
  const metadata: Record<string, string | number | boolean> = { allowed: message.allowed };
  if (message.denialReason !== DenialReason.UNSPECIFIED) {
    metadata.denialReason = lowerName(DenialReason[message.denialReason]);
  }
  if (message.allowed && message.limit === undefined) metadata.unlimited = true;
  if (message.limit !== undefined) metadata.limit = Number(message.limit);
  if (message.usage !== undefined) metadata.usage = Number(message.usage);
  if (message.balance !== undefined) metadata.balance = Number(message.balance);
  if (message.sources.length > 0) {
    metadata.sources = message.sources
      .map((s) => `${lowerName(EntitlementSourceKind[s.kind])}:${s.id}`)
      .join(',');
  }
  if (message.validUntil) metadata.validUntil = timestampDate(message.validUntil).toISOString();
  metadata.version = version ?? 0;
  return metadata;
}

/** `NO_SOURCE` -> `no_source`, as the service names reasons and sources elsewhere. */
const lowerName = (name: string | undefined) => (name ?? 'unspecified').toLowerCase();
