/**
 * Tells a memory cache whether a value read from the sources may be kept:
 * not when its own key (or everything) was evicted while it was being read.
 * An eviction of another customer does not matter: under webhook load some
 * customer changes every few milliseconds, and a single counter for all
 * keys kept almost no cold read (and made "one miss, then hits" depend on
 * when unrelated invalidations arrived). Memory stays bounded: past
 * `maxKeys` evicted keys the record is emptied and every read in flight is
 * treated as stale, which is only conservative.
 */
export class EvictionClock {
  private epoch = 0;
  /** Reads that started before this epoch are stale (everything was evicted since). */
  private floor = 0;
  /** The epoch of each key's last eviction. */
  private readonly evictedAt = new Map<string, number>();

  constructor(private readonly maxKeys: number) {}

  /** Take before reading the sources; hand back to `mayKeep`. */
  readToken(): number {
    return this.epoch;
  }

  evicted(key: string): void {
    this.epoch += 1;
    this.evictedAt.delete(key); // re-inserted last: the map stays in eviction order
    this.evictedAt.set(key, this.epoch);
    if (this.evictedAt.size > this.maxKeys) this.evictedAll();
  }

  evictedAll(): void {
    this.epoch += 1;
    this.floor = this.epoch;
    this.evictedAt.clear();
  }

  /** True when neither `key` nor everything was evicted after `token` was taken. */
  mayKeep(key: string, token: number): boolean {
    return token >= this.floor && (this.evictedAt.get(key) ?? 0) <= token;
  }
}
