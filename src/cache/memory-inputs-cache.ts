/**
 * The entitlement engine's inputs of recently used customers (catalog,
 * subscriptions, purchases, grants, credit lots), in process memory. TrackUsage
 * and the recompute after a usage change need them on every call, and
 * reading them costs several MongoDB finds (scans on FerretDB); usage never
 * changes them. So they are kept like entitlement sets, but only changes
 * that are not usage-only evict them: a webhook, grant or catalog change
 * arrives as an `entitlements` or `project` message on every replica.
 */
import type { EntitlementInputs } from '../domain/entitlements.js';
import { EvictionClock } from './eviction-clock.js';
import type { InvalidationBus } from './invalidation-bus.js';

type StoredInputs = Omit<EntitlementInputs, 'now'>;

export class MemoryInputsCache {
  private readonly entries = new Map<string, { inputs: StoredInputs; expiresAt: number }>();
  private readonly evictions: EvictionClock;

  constructor(
    bus: Pick<InvalidationBus, 'onMessage'>,
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {
    this.evictions = new EvictionClock(maxEntries);
    bus.onMessage((message) => {
      if (message.kind === 'entitlements' && message.usageOnly !== true) {
        const key = inputsKey(message.projectId, message.customerId);
        this.evictions.evicted(key);
        this.entries.delete(key);
      } else if (message.kind === 'project') {
        this.evictions.evictedAll();
        this.entries.clear();
      }
    });
  }

  /** The inputs as of `now`, if held and not older than the TTL. */
  get(projectId: string, customerId: string, now: Date): EntitlementInputs | undefined {
    const key = inputsKey(projectId, customerId);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now.getTime()) {
      this.entries.delete(key);
      return undefined;
    }
    return { ...entry.inputs, now };
  }

  /** Take before reading the sources; hand back to `set`. */
  readToken(): number {
    return this.evictions.readToken();
  }

  set(projectId: string, customerId: string, inputs: EntitlementInputs, token: number): void {
    if (!this.evictions.mayKeep(inputsKey(projectId, customerId), token)) return;
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    const { now, ...stored } = inputs;
    this.entries.set(inputsKey(projectId, customerId), {
      inputs: stored,
      expiresAt: now.getTime() + this.ttlMs,
    });
  }
}

const inputsKey = (projectId: string, customerId: string) => `${projectId}\u0000${customerId}`;
