/**
 * API keys: the format, the hash stored in place of the secret, and scopes.
 * Pure functions; random bytes come in as a parameter so tests can pin them.
 */
import { hash } from 'node:crypto';

export const scopes = [
  'entitlements:read',
  'checkout:write',
  'usage:write',
  'admin',
  'platform:admin',
] as const;
export type ScopeName = (typeof scopes)[number];

/**
 * Platform keys (scope `platform:admin`, which creates projects) belong to
 * no tenant: they live under this reserved project id, which no project can
 * have (project ids read `proj_<hex>`) and which holds no data. Such a key
 * has no other scope, so it can call CreateProject and nothing else.
 */
export const platformProjectId = 'platform';

/** Who is calling: resolved from the Authorization header by the auth interceptor. */
export interface ApiKeyPrincipal {
  readonly kind: 'api_key';
  readonly projectId: string;
  readonly keyId: string;
  readonly scopes: readonly ScopeName[];
}

/** A browser holding a customer token: one customer's entitlements, read only. */
export interface CustomerTokenPrincipal {
  readonly kind: 'customer_token';
  readonly projectId: string;
  readonly customerId: string;
  readonly scopes: readonly ScopeName[];
  /** The token's end: streams opened with it end then too. */
  readonly expiresAt: Date;
}

export type Principal = ApiKeyPrincipal | CustomerTokenPrincipal;

const keyPrefix = 'bk';

/**
 * A key reads `bk_<key id>_<secret>`: the id lets operators name a key in
 * logs and the audit trail without ever seeing the secret.
 */
export function formatApiKey(keyId: string, secret: string): string {
  return `${keyPrefix}_${keyId}_${secret}`;
}

export function parseApiKeyId(apiKey: string): string | undefined {
  const match = /^bk_([a-f0-9]{16})_[A-Za-z0-9_-]{32,}$/.exec(apiKey);
  return match?.[1];
}

/**
 * SHA-256 of the whole key: enough for a high-entropy secret, and a fast
 * lookup. Every RPC hashes its key, so the one-shot `hash` (a third of
 * createHash's cost: no Hash object per call).
 */
export function hashApiKey(apiKey: string): string {
  return hash('sha256', apiKey, 'hex');
}

export function newApiKeyParts(randomBytes: (size: number) => Buffer): {
  keyId: string;
  secret: string;
} {
  return { keyId: randomBytes(8).toString('hex'), secret: randomBytes(32).toString('base64url') };
}

export function hasScope(principal: Principal, scope: ScopeName): boolean {
  return principal.scopes.includes(scope);
}
