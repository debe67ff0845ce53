/**
 * Idempotency keys of write RPCs: which call a key belongs to, and what
 * claiming it can answer. The API's wrapper (src/api/idempotency.ts) decides
 * on these outcomes; the store (src/store/idempotency-store.ts) produces them.
 */

/** A key is one per project and method: two methods may reuse a key. */
export interface IdempotencyScope {
  readonly projectId: string;
  readonly method: string;
  readonly key: string;
}

export type ClaimResult =
  | { readonly kind: 'claimed' }
  | { readonly kind: 'replay'; readonly response: Uint8Array }
  | { readonly kind: 'in_progress' }
  | { readonly kind: 'mismatch' }
  /** The stored answer is sealed under a master key no longer configured. */
  | { readonly kind: 'unreadable' };
