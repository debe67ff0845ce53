/**
 * Whether the API key that issued a customer token is still live. Checked
 * on every call with a token; hits stay in process memory like API keys do
 * (see ApiKeyAuthenticator), and a revocation published on the invalidation
 * bus evicts them at once on every replica (the TTL bounds a lost message).
 */
import type { ApiKeyRecord } from '../domain/records.js';

/** The one lookup the issuer check needs (ApiKeyStore in production, a fake in tests). */
export interface IssuerKeys {
  get(projectId: string, keyId: string): Promise<ApiKeyRecord | null>;
}

/**
 * A message of the invalidation bus as the API reads it: only revoked keys
 * matter here, the other kinds pass by.
 */
export type BusMessage =
  | { readonly kind: 'api_key'; readonly secretHash: string }
  | {
      readonly kind:
        | 'project'
        | 'entitlements'
        | 'subscriptions'
        | 'subscriptions_reconciled'
        | 'webhook_endpoints';
    };

/** Where revocations arrive (the InvalidationBus in production, a fake in tests). */
export interface KeyRevocations {
  onMessage(handler: (message: BusMessage) => void): unknown;
}

const maxCachedIssuers = 10_000;

export class TokenIssuers {
  /** `project/key` -> the key's hash (what the bus names on revocation) and the entry's end. */
  private readonly live = new Map<string, { secretHash: string; expiresAt: number }>();
  private readonly byHash = new Map<string, string>();

  constructor(
    private readonly keys: IssuerKeys,
    bus: KeyRevocations,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    bus.onMessage((message) => {
      if (message.kind !== 'api_key') return;
      const entry = this.byHash.get(message.secretHash);
      if (entry !== undefined) this.forget(entry);
    });
  }

  /** True when the project has this key and it is not revoked. */
  async isLive(projectId: string, keyId: string): Promise<boolean> {
    const id = `${projectId}/${keyId}`;
    const cached = this.live.get(id);
    if (cached && cached.expiresAt > this.now()) return true;
    const doc = await this.keys.get(projectId, keyId);
    if (!doc || doc.revoked_at !== null) {
      this.forget(id);
      return false;
    }
    this.remember(id, doc.secret_hash);
    return true;
  }

  private remember(id: string, secretHash: string): void {
    if (this.live.size >= maxCachedIssuers) {
      // Maps iterate in insertion order: drop the oldest entry.
      const oldest = this.live.keys().next();
      if (!oldest.done) this.forget(oldest.value);
    }
    this.live.set(id, { secretHash, expiresAt: this.now() + this.ttlMs });
    this.byHash.set(secretHash, id);
  }

  private forget(id: string): void {
    const entry = this.live.get(id);
    if (entry) this.byHash.delete(entry.secretHash);
    this.live.delete(id);
  }
}
