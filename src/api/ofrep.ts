/**
 * The OpenFeature Remote Evaluation Protocol on the one port:
 * `POST /ofrep/v1/evaluate/flags/{key}` and the bulk
 * `POST /ofrep/v1/evaluate/flags` (with an ETag; If-None-Match answers 304),
 * so OFREP's generic providers read entitlements as flags unchanged. The
 * targeting key is the customer id; the flag key the feature
 * (./ofrep-flags.ts). Authorized like EntitlementsService: an API key with
 * entitlements:read (`Authorization: Bearer` or `X-API-Key`), or a customer
 * token for that very customer. Statuses and error bodies as the OFREP
 * OpenAPI description says; a dependency down is 503 with Retry-After.
 */
import { createHash } from 'node:crypto';
import { Code, ConnectError } from '@connectrpc/connect';
import { hasScope, type Principal } from '../domain/api-keys.js';
import type { EntitlementSet } from '../domain/entitlements.js';
import { isDependencyDown } from '../failure-classification.js';
import type { EntitlementLookup } from './entitlements-routes.js';
import { evaluateAllFlags, evaluateFlag, type FlagAnswer } from './ofrep-flags.js';
import { hasControlCharacters, limits } from './validate.js';

export interface OfrepCall {
  /** Undefined: the bulk endpoint. */
  readonly flagKey: string | undefined;
  /** The bearer token or X-API-Key value; undefined when neither was sent. */
  readonly credentials: string | undefined;
  readonly ifNoneMatch: string | undefined;
  readonly body: Buffer;
}

export interface OfrepAnswer {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Sent as JSON; absent: no body. */
  readonly body?: unknown;
}

export interface OfrepDeps {
  readonly entitlements: EntitlementLookup;
  /** The caller, as the RPC auth interceptor would find it; throws its ConnectError. */
  readonly authenticate: (credentials: string) => Promise<Principal>;
}

type Refusal = { readonly errorCode: string; readonly errorDetails: string };

export async function answerOfrep(call: OfrepCall, deps: OfrepDeps): Promise<OfrepAnswer> {
  const principal = await callerOf(call, deps);
  if ('status' in principal) return principal;
  const target = targetOf(call.body);
  if ('errorCode' in target) return { status: 400, body: withKey(call.flagKey, target) };
  if (principal.kind === 'customer_token' && principal.customerId !== target.customerId) {
    return { status: 403 };
  }
  let set: EntitlementSet;
  try {
    set = await deps.entitlements.list(principal.projectId, target.customerId);
  } catch (error) {
    if (!isDependencyDown(error)) throw error;
    const refusal = { errorCode: 'GENERAL', errorDetails: 'a dependency is unavailable; retry' };
    return { status: 503, headers: { 'retry-after': '1' }, body: withKey(call.flagKey, refusal) };
  }
  return call.flagKey === undefined
    ? bulkAnswer(set, call.ifNoneMatch)
    : flagAnswer(set, call.flagKey);
}

async function callerOf(call: OfrepCall, deps: OfrepDeps): Promise<Principal | OfrepAnswer> {
  if (call.credentials === undefined) return { status: 401 };
  try {
    const principal = await deps.authenticate(call.credentials);
    return hasScope(principal, 'entitlements:read') ? principal : { status: 403 };
  } catch (error) {
    if (error instanceof ConnectError && error.code === Code.PermissionDenied)
      return { status: 403 };
    if (error instanceof ConnectError && error.code === Code.Unauthenticated)
      return { status: 401 };
    throw error;
  }
}

const targetingKeyMissing: Refusal = {
  errorCode: 'TARGETING_KEY_MISSING',
  errorDetails: 'context.targetingKey (the customer id) is required',
};

/** The customer id from `{"context": {"targetingKey": ...}}`, or why not. */
function targetOf(body: Buffer): { readonly customerId: string } | Refusal {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return { errorCode: 'PARSE_ERROR', errorDetails: 'the body is not JSON' };
  }
  const context = isObject(parsed) ? parsed.context : undefined;
  // No context at all (what providers send for an empty one) lacks the key; a wrong one is invalid.
  if (isObject(parsed) && context === undefined) return targetingKeyMissing;
  if (!isObject(context)) {
    return { errorCode: 'INVALID_CONTEXT', errorDetails: 'the body needs a "context" object' };
  }
  const key = context.targetingKey;
  if (typeof key !== 'string' || key === '') return targetingKeyMissing;
  if (key.length > limits.customerId || hasControlCharacters(key)) {
    return {
      errorCode: 'INVALID_CONTEXT',
      errorDetails: `targetingKey must be at most ${limits.customerId} printable characters`,
    };
  }
  return { customerId: key };
}

function flagAnswer(set: EntitlementSet, key: string): OfrepAnswer {
  const answer = evaluateFlag(set, key);
  if (answer.kind === 'not_found') {
    return {
      status: 404,
      body: { key, errorCode: 'FLAG_NOT_FOUND', errorDetails: answer.details },
    };
  }
  return { status: 200, body: successBody(answer) };
}

function bulkAnswer(set: EntitlementSet, ifNoneMatch: string | undefined): OfrepAnswer {
  const body = {
    flags: evaluateAllFlags(set).map((answer) =>
      answer.kind === 'value'
        ? successBody(answer)
        : { key: answer.key, errorCode: 'FLAG_NOT_FOUND', errorDetails: answer.details },
    ),
    metadata: { version: set.version ?? 0 },
  };
  const etag = `"${createHash('sha256').update(JSON.stringify(body)).digest('base64url').slice(0, 27)}"`;
  if (ifNoneMatch !== undefined && matchesEtag(ifNoneMatch, etag)) {
    return { status: 304, headers: { etag } };
  }
  return { status: 200, headers: { etag }, body };
}

function successBody(answer: Extract<FlagAnswer, { kind: 'value' }>) {
  return {
    key: answer.key,
    ...(answer.value === undefined ? {} : { value: answer.value }),
    reason: 'TARGETING_MATCH',
    variant: answer.variant,
    metadata: answer.metadata,
  };
}

/** If-None-Match holds a list of tags, weak or strong, or `*`. */
function matchesEtag(header: string, etag: string): boolean {
  return header
    .split(',')
    .map((tag) => tag.trim().replace(/^W\//, ''))
    .some((tag) => tag === '*' || tag === etag);
}

const withKey = (key: string | undefined, refusal: Refusal) =>
  key === undefined ? refusal : { key, ...refusal };

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
