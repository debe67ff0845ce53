/**
 * Authentication: `Authorization: Bearer <api key>` becomes a Principal (a
 * project and its scopes) stored in the call's context values. Keys are
 * looked up by their SHA-256 hash; hits stay in process memory so a check
 * costs no round trip, and are evicted on revocation via the invalidation
 * bus (or after the TTL when a bus message is lost).
 */
import type { DescService } from '@bufbuild/protobuf';
import {
  Code,
  ConnectError,
  createContextKey,
  type HandlerContext,
  type Interceptor,
} from '@connectrpc/connect';
import type { InvalidationBus } from '../cache/invalidation-bus.js';
import {
  type ApiKeyPrincipal,
  hashApiKey,
  hasScope,
  type Principal,
  type ScopeName,
} from '../domain/api-keys.js';
import type { ApiKeyStore } from '../store/api-key-store.js';

const maxCachedKeys = 10_000;

export class ApiKeyAuthenticator {
  private readonly cache = new Map<string, { principal: ApiKeyPrincipal; expiresAt: number }>();

  constructor(
    private readonly keys: ApiKeyStore,
    bus: InvalidationBus,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    bus.onMessage((message) => {
      if (message.kind === 'api_key') this.cache.delete(message.secretHash);
    });
  }

  /** The principal for a key, or undefined when the key is unknown or revoked. */
  async authenticate(apiKey: string): Promise<ApiKeyPrincipal | undefined> {
    const secretHash = hashApiKey(apiKey);
    const cached = this.cache.get(secretHash);
    if (cached && cached.expiresAt > this.now()) return cached.principal;
    const doc = await this.keys.findByHash(secretHash);
    if (!doc || doc.revoked_at !== null) {
      this.cache.delete(secretHash);
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
}

/** Set by the auth interceptor for every authenticated call. */
export const principalKey = createContextKey<Principal | undefined>(undefined, {
  description: 'principal',
});

export function requirePrincipal(context: HandlerContext): Principal {
  const principal = context.values.get(principalKey);
  // The interceptor guarantees this for every scoped service; reaching here
  // without one is a wiring bug, not a client error.
  if (!principal) throw new ConnectError('no principal for this call', Code.Internal);
  return principal;
}

export interface AuthInterceptorOptions {
  readonly authenticator: ApiKeyAuthenticator;
  /** The scope a service needs; undefined marks a public service (health, reflection). */
  readonly requiredScope: (service: DescService) => ScopeName | undefined;
}

export function createAuthInterceptor(options: AuthInterceptorOptions): Interceptor {
  return (next) => async (req) => {
    const scope = options.requiredScope(req.service);
    if (scope === undefined) return next(req);
    const token = bearerToken(req.header.get('authorization'));
    if (token === undefined) {
      throw new ConnectError(
        'missing API key: send "authorization: Bearer <key>"',
        Code.Unauthenticated,
      );
    }
    const principal = await options.authenticator.authenticate(token);
    if (!principal) throw new ConnectError('invalid or revoked API key', Code.Unauthenticated);
    if (!hasScope(principal, scope)) {
      throw new ConnectError(`this API key lacks the "${scope}" scope`, Code.PermissionDenied);
    }
    req.contextValues.set(principalKey, principal);
    return next(req);
  };
}

function bearerToken(header: string | null): string | undefined {
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match?.[1];
}
