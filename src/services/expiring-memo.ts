/**
 * Values read from MongoDB and kept in process memory for a TTL, by key:
 * the shared piece of the in-memory caches (projects, webhook endpoints)
 * that a bus message invalidates.
 *
 * - Callers that find a key missing or expired together share one read.
 * - A read begun before the key was invalidated answers its callers but is
 *   not kept: it may hold the value from before the change, which must not
 *   stand for a whole TTL after the broadcast.
 */
export class ExpiringMemo<T> {
  private readonly entries = new Map<string, { value: T; expiresAt: number }>();
  private readonly loading = new Map<string, Promise<T>>();

  private readonly keep: (value: T) => boolean;
  private readonly nowMs: () => number;

  /**
   * `read` answers a key's value from the store; `keep` says whether a value
   * read is remembered (default: every one).
   */
  constructor(
    private readonly read: (key: string) => Promise<T>,
    private readonly ttlMs: number,
    options: { readonly keep?: (value: T) => boolean; readonly nowMs?: () => number } = {},
  ) {
    this.keep = options.keep ?? (() => true);
    this.nowMs = options.nowMs ?? Date.now;
  }

  /** The kept value, or what a read answers. */
  async get(key: string): Promise<T> {
    const cached = this.entries.get(key);
    if (cached && cached.expiresAt > this.nowMs()) return cached.value;
    const pending = this.loading.get(key);
    if (pending) return pending;
    const load = this.read(key).then((value) => {
      if (this.loading.get(key) === load && this.keep(value))
        this.entries.set(key, { value, expiresAt: this.nowMs() + this.ttlMs });
      return value;
    });
    this.loading.set(key, load);
    try {
      return await load;
    } finally {
      if (this.loading.get(key) === load) this.loading.delete(key);
    }
  }

  invalidate(key: string): void {
    this.entries.delete(key);
    this.loading.delete(key);
  }
}
