/**
 * Two cache levels for computed entitlement sets.
 *
 * Redis (shared by replicas): `ent:{project}:{customer}` holds the set and
 * the generation it was computed at; `entgen:{project}:{customer}` is bumped
 * on every change. A reader fetches both in one MGET and trusts the entry
 * only when the generations match, so a reader that computed from MongoDB
 * just before a change can never re-install a stale set.
 *
 * Process memory (per replica): the hot path, no round trip at all. Every
 * change is broadcast on the invalidation bus and evicts the entry on every
 * replica; a short TTL bounds staleness if a broadcast is lost.
 *
 * A change not yet counted in Redis (its bump in flight, or deferred while
 * Redis is down) is marked in this process: until the bump lands, this
 * replica neither trusts nor stores a Redis entry of that customer, so a
 * caller that was answered before the bump landed (TrackUsage does not wait
 * for it) still reads its own write here.
 *
 * Any Redis failure is reported to the caller, which falls back to MongoDB.
 */
import type { Redis } from 'ioredis';
import type { EntitlementSet } from '../domain/entitlements.js';
import type { Logger } from '../logger.js';
import { CustomerMemo, memoKey } from './customer-memo.js';
import { type HeldSet, SetHolder } from './held-sets.js';
import type { InvalidationBus } from './invalidation-bus.js';

/**
 * The project version (its updated_at) is part of the entry key: a catalog
 * or grace period change makes every older entry of the project unreachable.
 */
const entryKey = (projectId: string, projectVersion: number, customerId: string) =>
  `ent:${projectId}:${projectVersion}:${customerId}`;
const generationKey = (projectId: string, customerId: string) =>
  `entgen:${projectId}:${customerId}`;

/** Generation counters outlive any entry (entries live at most an hour). */
const generationTtlSeconds = 7 * 24 * 3600;
const maxEntryTtlSeconds = 3600;

export interface RedisLookup {
  readonly set: EntitlementSet | undefined;
  /**
   * Pass back to `store` so a change in between makes the entry unusable;
   * undefined: do not store (a change of this customer is not in Redis yet).
   */
  readonly generation: string | undefined;
}

const customerKey = (projectId: string, customerId: string) =>
  JSON.stringify([projectId, customerId]);

export class RedisEntitlementCache {
  /** Changes that could not reach Redis; replayed when it is back. */
  private readonly pendingInvalidations = new Set<string>();
  /** Bumps sent and not yet answered, per customer key (a count: they overlap). */
  private readonly bumpsInFlight = new Map<string, number>();

  constructor(
    private readonly redis: Redis,
    private readonly logger: Logger,
  ) {
    redis.on('ready', () => void this.replayPending());
  }

  /** Changes whose invalidation has not reached Redis yet. */
  get pendingCount(): number {
    return this.pendingInvalidations.size;
  }

  async lookup(
    projectId: string,
    projectVersion: number,
    customerId: string,
  ): Promise<RedisLookup> {
    if (this.changeNotInRedis(customerKey(projectId, customerId))) {
      return { set: undefined, generation: undefined };
    }
    const [entry, generation] = await this.redis.mget(
      entryKey(projectId, projectVersion, customerId),
      generationKey(projectId, customerId),
    );
    const current = generation ?? '0';
    if (!entry) return { set: undefined, generation: current };
    const parsed = parseEntry(entry);
    return {
      set: parsed && parsed.generation === current ? parsed.set : undefined,
      generation: current,
    };
  }

  async store(
    projectId: string,
    projectVersion: number,
    customerId: string,
    generation: string,
    set: EntitlementSet,
    now: Date,
  ) {
    const untilChange = set.validUntil
      ? Math.ceil((set.validUntil.getTime() - now.getTime()) / 1000)
      : maxEntryTtlSeconds;
    const ttl = Math.max(1, Math.min(maxEntryTtlSeconds, untilChange));
    await this.redis.set(
      entryKey(projectId, projectVersion, customerId),
      serializeEntry(generation, set),
      'EX',
      ttl,
    );
  }

  /**
   * Never rejects: a change must not fail because the cache is down. The
   * customer is marked before this returns, so a caller may answer without
   * awaiting it and this replica still reads its own write.
   */
  async invalidate(projectId: string, customerId: string): Promise<void> {
    const key = customerKey(projectId, customerId);
    this.bumpsInFlight.set(key, (this.bumpsInFlight.get(key) ?? 0) + 1);
    try {
      await this.bump(projectId, customerId);
    } catch (err) {
      this.pendingInvalidations.add(key);
      this.logger.warn('entitlement cache: invalidation deferred until Redis is back', {
        error: err,
      });
    } finally {
      const left = (this.bumpsInFlight.get(key) ?? 1) - 1;
      if (left > 0) this.bumpsInFlight.set(key, left);
      else this.bumpsInFlight.delete(key);
    }
  }

  /** A change of this customer that Redis does not count yet (in flight or deferred). */
  private changeNotInRedis(key: string): boolean {
    return this.bumpsInFlight.has(key) || this.pendingInvalidations.has(key);
  }

  private async bump(projectId: string, customerId: string): Promise<void> {
    await this.redis
      .multi()
      .incr(generationKey(projectId, customerId))
      .expire(generationKey(projectId, customerId), generationTtlSeconds)
      .exec();
  }

  private async replayPending(): Promise<void> {
    for (const pending of [...this.pendingInvalidations]) {
      const [projectId, customerId] = JSON.parse(pending) as [string, string];
      try {
        await this.bump(projectId, customerId);
        this.pendingInvalidations.delete(pending);
      } catch {
        return; // Down again: the next 'ready' retries.
      }
    }
  }
}

/**
 * Computed sets; any change of the customer evicts, and a set expires at
 * its `validUntil`. Held as a shared template and the customer's values
 * (held-sets.ts) and bounded by bytes.
 */
export class MemoryEntitlementCache {
  private readonly memo: CustomerMemo<HeldSet>;
  private readonly holder = new SetHolder();

  constructor(
    bus: Pick<InvalidationBus, 'onMessage'>,
    ttlMs: number,
    maxEntries: number,
    maxBytes: number = Number.POSITIVE_INFINITY,
  ) {
    this.memo = new CustomerMemo(bus, {
      ttlMs,
      maxEntries,
      maxBytes,
      evictionOf: (message) => {
        if (message.kind === 'entitlements') {
          return { customer: memoKey(message.projectId, message.customerId) };
        }
        // Catalog changes are rare: start over rather than index by project.
        return message.kind === 'project' ? 'all' : 'none';
      },
      stillValid: (held, nowMs) => held.validUntilMs === null || held.validUntilMs > nowMs,
    });
  }

  get(projectId: string, customerId: string, nowMs: number): EntitlementSet | undefined {
    return this.memo.get(projectId, customerId, nowMs)?.set();
  }

  /** Take before reading the sources; hand back to `set`. */
  readToken(): number {
    return this.memo.readToken();
  }

  /** Holds `set` in its held form (shared template, this customer's values). */
  set(
    projectId: string,
    customerId: string,
    set: EntitlementSet,
    nowMs: number,
    token: number,
  ): void {
    if (!this.memo.mayKeep(projectId, customerId, token)) return;
    const { held, bytes } = this.holder.hold(set, memoKey(projectId, customerId).length);
    this.memo.set(projectId, customerId, held, nowMs, token, bytes);
  }
}

function serializeEntry(generation: string, set: EntitlementSet): string {
  return JSON.stringify({ generation, set });
}

/** Dates travel as ISO strings; bring them back. */
function parseEntry(raw: string): { generation: string; set: EntitlementSet } | undefined {
  try {
    return JSON.parse(raw, (key, value: unknown) =>
      (key === 'validUntil' || key === 'resetsAt') && typeof value === 'string'
        ? new Date(value)
        : value,
    ) as { generation: string; set: EntitlementSet };
  } catch {
    return undefined;
  }
}
