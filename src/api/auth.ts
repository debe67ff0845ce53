/**
 * Authentication: `Authorization: Bearer <api key or customer token>`
 * becomes a Principal (a project and its scopes, or one customer of a
 * project) stored in the call's context values. Keys are
 * looked up by their id and checked by their SHA-256 hash; hits stay in
 * process memory so a check costs no round trip, and are evicted on
 * revocation via the invalidation bus (or after the TTL when a bus message
 * is lost). Unknown keys are remembered briefly too, so a client retrying a
 * bad key does not cost a lookup per request.
 */
import { timingSafeEqual } from 'node:crypto';
import type { DescMethod, DescService } from '@bufbuild/protobuf';
import {
  Code,
  ConnectError,
  createContextKey,
  type HandlerContext,
  type Interceptor,
} from '@connectrpc/connect';
import {
  type ApiKeyPrincipal,
  type CustomerTokenPrincipal,
  hashApiKey,
  hasScope,
  type Principal,
  parseApiKeyId,
  type ScopeName,
} from '../domain/api-keys.js';
import { isCustomerToken, verifyCustomerToken } from '../domain/customer-tokens.js';
import type { ApiKeyRecord } from '../domain/records.js';
import type { KeyRevocations, TokenIssuers } from './token-issuers.js';

const maxCachedKeys = 10_000;
/** Bounds the memory an attacker can fill with bad keys: the oldest are forgotten first. */
const maxRememberedUnknownKeys = 10_000;

/** The one lookup the authenticator needs (ApiKeyStore in production, a fake in tests). */
export interface ApiKeyLookup {
  /** The key with this id, revoked or not; null when there is none. */
  findById(keyId: string): Promise<ApiKeyRecord | null>;
}

export class ApiKeyAuthenticator {
  private readonly cache = new Map<string, { principal: ApiKeyPrincipal; expiresAt: number }>();
  /** Hashes of keys found unknown or revoked, with when that answer expires. */
  private readonly unknown = new Map<string, number>();

  /**
   * `negativeTtlMs`: how long an unknown key's answer is remembered (0: not
   * at all). No key created later can be in it: a new key's 256-bit secret
   * cannot have been presented before it existed, so creation evicts nothing.
   */
  constructor(
    private readonly keys: ApiKeyLookup,
    bus: KeyRevocations,
    private readonly ttlMs: number,
    private readonly negativeTtlMs = 0,
    private readonly now: () => number = Date.now,
  ) {
    bus.onMessage((message) => {
      if (message.kind === 'api_key') this.cache.delete(message.secretHash);
    });
  }

  /**
   * The principal for a key held in memory and still fresh, without a
   * lookup; undefined means only that `authenticate` must be asked.
   */
  remembered(apiKey: string): ApiKeyPrincipal | undefined {
    if (parseApiKeyId(apiKey) === undefined) return undefined;
    return this.fresh(hashApiKey(apiKey));
  }

  private fresh(secretHash: string): ApiKeyPrincipal | undefined {
    const cached = this.cache.get(secretHash);
    return cached && cached.expiresAt > this.now() ? cached.principal : undefined;
  }

  /** The principal for a key, or undefined when the key is unknown or revoked. */
  async authenticate(apiKey: string): Promise<ApiKeyPrincipal | undefined> {
    // Not our format: no key can match, so no lookup.
    const keyId = parseApiKeyId(apiKey);
    if (keyId === undefined) return undefined;
    const secretHash = hashApiKey(apiKey);
    const known = this.fresh(secretHash);
    if (known) return known;
    if ((this.unknown.get(secretHash) ?? 0) > this.now()) return undefined;
    const doc = await this.keys.findById(keyId);
    // By id, not by hash: FerretDB scans on any field but _id. The hash must
    // still match, or a known id with a made-up secret would pass.
    if (!doc || !sameHash(doc.secret_hash, secretHash) || doc.revoked_at !== null) {
      this.cache.delete(secretHash);
      this.rememberUnknown(secretHash);
      return undefined;
    }
    const principal: ApiKeyPrincipal = {
      kind: 'api_key',
      projectId: doc.project_id,
      keyId: doc._id,
      scopes: doc.scopes,
    };
    this.remember(secretHash, principal);
    return principal;
  }

  private remember(secretHash: string, principal: ApiKeyPrincipal): void {
    if (this.cache.size >= maxCachedKeys) {
      // Maps iterate in insertion order: drop the oldest entry.
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(secretHash, { principal, expiresAt: this.now() + this.ttlMs });
  }

  private rememberUnknown(secretHash: string): void {
    if (this.negativeTtlMs === 0) return;
    // Re-inserted at the end, so the oldest answers are the first forgotten.
    this.unknown.delete(secretHash);
    if (this.unknown.size >= maxRememberedUnknownKeys) {
      const oldest = this.unknown.keys().next();
      if (!oldest.done) this.unknown.delete(oldest.value);
    }
    this.unknown.set(secretHash, this.now() + this.negativeTtlMs);
  }
}

function sameHash(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}

/** Set by the auth interceptor for every authenticated call. */
const principalKey = createContextKey<Principal | undefined>(undefined, {
  description: 'principal',
});

/** Who is calling, for handlers that a customer token may reach (reads of one customer). */
export function requireReader(context: HandlerContext): Principal {
  const principal = context.values.get(principalKey);
  // The interceptor guarantees this for every scoped service; reaching here
  // without one is a wiring bug, not a client error.
  if (!principal) throw new ConnectError('no principal for this call', Code.Internal);
  return principal;
}

/** The calling API key, for every handler a customer token must never reach. */
export function requirePrincipal(context: HandlerContext): ApiKeyPrincipal {
  const principal = requireReader(context);
  if (principal.kind !== 'api_key') {
    throw new ConnectError('a customer token cannot call this method', Code.PermissionDenied);
  }
  return principal;
}

/** A customer token reads its own customer only. */
export function requireCustomerAccess(principal: Principal, customerId: string): void {
  if (principal.kind === 'customer_token' && principal.customerId !== customerId) {
    throw new ConnectError('this customer token is for another customer', Code.PermissionDenied);
  }
}

/** What a customer token may call outside the RPCs: OFREP's evaluations (src/api/ofrep.ts). */
export const ofrepProcedure = 'ofrep/evaluate';

/** Customer tokens may call only these: reads of their own customer. */
const customerTokenMethods = new Set([
  'billing.v1.EntitlementsService/CheckEntitlement',
  'billing.v1.EntitlementsService/ListEntitlements',
  'billing.v1.EntitlementsService/WatchEntitlements',
  ofrepProcedure,
]);

/** What turns a bearer credential into a principal. */
export interface CredentialOptions {
  readonly authenticator: ApiKeyAuthenticator;
  /** Secrets that sign customer tokens (the first signs; all verify). Empty: tokens are refused. */
  readonly customerTokenSecrets: readonly string[];
  /** A token works only while the key that issued it does. */
  readonly tokenIssuers: TokenIssuers;
  readonly now?: () => Date;
}

export interface AuthInterceptorOptions extends CredentialOptions {
  /** The scope a service needs; undefined marks a public service (health, reflection). */
  readonly requiredScope: (service: DescService, method: DescMethod) => ScopeName | undefined;
}

export function createAuthInterceptor(options: AuthInterceptorOptions): Interceptor {
  // Per method descriptor: the answer never changes, and the lookup builds a string.
  const scopes = new WeakMap<DescMethod, ScopeName | undefined>();
  const scopeOf = (service: DescService, method: DescMethod) => {
    if (scopes.has(method)) return scopes.get(method);
    const scope = options.requiredScope(service, method);
    scopes.set(method, scope);
    return scope;
  };
  return (next) => (req) => {
    const scope = scopeOf(req.service, req.method);
    if (scope === undefined) return next(req);
    const token = bearerToken(req.header.get('authorization'));
    // Most calls carry a key already in memory: admitted without an await
    // (a promise and a turn of the microtask queue less on the hot path).
    const known =
      token === undefined || isCustomerToken(token)
        ? undefined
        : options.authenticator.remembered(token);
    if (known) return admit(req, next, known, scope);
    return authenticateThenAdmit(req, next, token, scope, options);
  };
}

type Next = Parameters<Interceptor>[0];
type AnyRequest = Parameters<Next>[0];

async function authenticateThenAdmit(
  req: AnyRequest,
  next: Next,
  token: string | undefined,
  scope: ScopeName,
  options: AuthInterceptorOptions,
): ReturnType<Next> {
  if (token === undefined) {
    throw new ConnectError(
      'missing API key: send "authorization: Bearer <key>"',
      Code.Unauthenticated,
    );
  }
  const procedure = `${req.service.typeName}/${req.method.name}`;
  return admit(req, next, await authenticateCredentials(token, procedure, options), scope);
}

/**
 * The principal for an API key or customer token calling `procedure`, or
 * the ConnectError the RPCs answer (UNAUTHENTICATED, PERMISSION_DENIED).
 * Scopes are the caller's to check.
 */
export async function authenticateCredentials(
  token: string,
  procedure: string,
  options: CredentialOptions,
): Promise<Principal> {
  const principal = isCustomerToken(token)
    ? await customerPrincipal(token, procedure, options)
    : await options.authenticator.authenticate(token);
  if (!principal) throw new ConnectError('invalid or revoked API key', Code.Unauthenticated);
  return principal;
}

/** The principal may call this method: it goes in the context values, and the call goes on. */
function admit(
  req: AnyRequest,
  next: Next,
  principal: Principal,
  scope: ScopeName,
): ReturnType<Next> {
  if (!hasScope(principal, scope)) {
    return Promise.reject(
      new ConnectError(`this API key lacks the "${scope}" scope`, Code.PermissionDenied),
    );
  }
  req.contextValues.set(principalKey, principal);
  return next(req);
}

async function customerPrincipal(
  token: string,
  procedure: string,
  options: CredentialOptions,
): Promise<CustomerTokenPrincipal> {
  const check = verifyCustomerToken(
    token,
    options.customerTokenSecrets,
    options.now?.() ?? new Date(),
  );
  if (!check.ok)
    throw new ConnectError(`customer token refused: ${check.reason}`, Code.Unauthenticated);
  if (!(await options.tokenIssuers.isLive(check.claims.projectId, check.claims.keyId))) {
    throw new ConnectError(
      'customer token refused: the API key that issued it is revoked',
      Code.Unauthenticated,
    );
  }
  if (!customerTokenMethods.has(procedure)) {
    throw new ConnectError(
      'a customer token may only read its own entitlements',
      Code.PermissionDenied,
    );
  }
  return {
    kind: 'customer_token',
    projectId: check.claims.projectId,
    customerId: check.claims.customerId,
    scopes: ['entitlements:read'],
    expiresAt: check.claims.expiresAt,
  };
}

function bearerToken(header: string | null): string | undefined {
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match?.[1];
}
