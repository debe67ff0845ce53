/**
 * A per-customer memo in process memory, kept coherent across replicas by
 * the invalidation bus. Both the computed entitlement sets and the engine's
 * inputs are held this way; they differ only in which messages evict an
 * entry and in whether a held value can go stale on its own.
 *
 * Reads race with evictions: a value computed while an eviction of its
 * customer (or of everything) happened may be stale, so `set` takes the
 * token `readToken` gave before the sources were read and drops the value
 * when such an eviction came in between (./eviction-clock.ts).
 */
import { EvictionClock } from './eviction-clock.js';
import type { InvalidationBus, InvalidationMessage } from './invalidation-bus.js';

/** What a message does to the memo. */
export type MemoEviction = { readonly customer: string } | 'all' | 'none';

export interface CustomerMemoOptions<T> {
  readonly ttlMs: number;
  readonly maxEntries: number;
  /**
   * The memo's bound in bytes, as `set`'s callers estimate each entry (its
   * key and bookkeeping included); the oldest entries make room.
   */
  readonly maxBytes?: number;
  /** Which entries a bus message evicts. */
  readonly evictionOf: (message: InvalidationMessage) => MemoEviction;
  /** False when a held value has gone stale on its own at `nowMs`. */
  readonly stillValid?: (value: T, nowMs: number) => boolean;
}

export class CustomerMemo<T> {
  private readonly entries = new Map<string, { value: T; expiresAt: number; bytes: number }>();
  private readonly evictions: EvictionClock;
  private bytes = 0;

  constructor(
    bus: Pick<InvalidationBus, 'onMessage'>,
    private readonly options: CustomerMemoOptions<T>,
  ) {
    this.evictions = new EvictionClock(options.maxEntries);
    bus.onMessage((message) => this.evict(options.evictionOf(message)));
  }

  get(projectId: string, customerId: string, nowMs: number): T | undefined {
    const key = memoKey(projectId, customerId);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    const valid = this.options.stillValid?.(entry.value, nowMs) ?? true;
    if (entry.expiresAt <= nowMs || !valid) {
      this.remove(key);
      return undefined;
    }
    return entry.value;
  }

  /** Take before reading the sources; hand back to `set`. */
  readToken(): number {
    return this.evictions.readToken();
  }

  /** False when the customer (or everything) was evicted after `token` was taken. */
  mayKeep(projectId: string, customerId: string, token: number): boolean {
    return this.evictions.mayKeep(memoKey(projectId, customerId), token);
  }

  /** Holds `value`, estimated at `bytes`, unless an eviction came after `token`. */
  set(
    projectId: string,
    customerId: string,
    value: T,
    nowMs: number,
    token: number,
    bytes = 0,
  ): void {
    if (!this.mayKeep(projectId, customerId, token)) return;
    const key = memoKey(projectId, customerId);
    this.remove(key);
    const maxBytes = this.options.maxBytes ?? Number.POSITIVE_INFINITY;
    if (bytes > maxBytes) return;
    while (this.entries.size >= this.options.maxEntries || this.bytes + bytes > maxBytes) {
      // Maps iterate in insertion order: the first key is the oldest entry.
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.remove(oldest.value);
    }
    this.entries.set(key, { value, expiresAt: nowMs + this.options.ttlMs, bytes });
    this.bytes += bytes;
  }

  /** What the held entries take, as their `set` calls estimated it. */
  heldBytes(): number {
    return this.bytes;
  }

  private remove(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.bytes -= entry.bytes;
  }

  private evict(eviction: MemoEviction): void {
    if (eviction === 'none') return;
    if (eviction === 'all') {
      this.evictions.evictedAll();
      this.entries.clear();
      this.bytes = 0;
    } else {
      this.evictions.evicted(eviction.customer);
      this.remove(eviction.customer);
    }
  }
}

/** The key of a customer's entry; `evictionOf` names customers with it. */
export const memoKey = (projectId: string, customerId: string): string =>
  `${projectId}\u0000${customerId}`;
