/**
 * Two cache levels for computed entitlement sets.
 *
 * Redis (shared by replicas): `ent:{project}:{version}:{customer}` holds the
 * set and the generation it was computed at; `entgen:{project}:{customer}`
 * is bumped on every change. A reader fetches both in one MGET and trusts
 * the entry only when the generations match, so a reader that computed from
 * MongoDB just before a change can never re-install a stale set.
 *
 * The generation is also the customer's version (docs/decisions.md,
 * "Entitlement versions"): a script bumps it to the larger of one more and
 * Redis's clock in microseconds, so it keeps growing across replicas and
 * even when Redis lost the counter, and adds the change to the project's
 * change feed (./change-feed.ts) in the same atomic step. A catalog change
 * bumps the project's own counter (`entgen:{project}`) the same way; a
 * set's version is the larger of the two.
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
import { feedKey } from './change-feed.js';
import { CustomerMemo, memoKey } from './customer-memo.js';
import { type HeldSet, SetHolder } from './held-sets.js';
import type { InvalidationBus } from './invalidation-bus.js';

/**
 * The project version (its updated_at) is part of the entry key: a catalog
 * or grace period change makes every older entry of the project unreachable.
 * `{project}` is a hash tag: a project's keys share one slot of a cluster.
 */
const entryKey = (projectId: string, projectVersion: number, customerId: string) =>
  `ent:{${projectId}}:${projectVersion}:${customerId}`;
const generationKey = (projectId: string, customerId: string) =>
  `entgen:{${projectId}}:${customerId}`;
const projectGenerationKey = (projectId: string) => `entgen:{${projectId}}`;

/** Generation counters outlive any entry (entries live at most an hour). */
const generationTtlSeconds = 7 * 24 * 3600;
const maxEntryTtlSeconds = 3600;

/**
 * KEYS: the counter to bump, the project's counter, the feed. ARGV: the
 * counter's TTL, the feed's length, the feed entry's customer id ('' for
 * the project) and usage-only flag. Answers the new version.
 */
const bumpScript = `
local now = redis.call('TIME')
local clock = tonumber(now[1]) * 1000000 + tonumber(now[2])
local own = tonumber(redis.call('GET', KEYS[1]) or '0')
local project = tonumber(redis.call('GET', KEYS[2]) or '0')
local version = math.max(own + 1, project + 1, clock)
redis.call('SET', KEYS[1], string.format('%d', version), 'EX', ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'c', ARGV[3], 'u', ARGV[4], 'v', string.format('%d', version))
return version
`;

/** How many changes a project's feed keeps by default (about 100 bytes each). */
export const defaultFeedRetainEntries = 100_000;

export interface RedisLookup {
  readonly set: EntitlementSet | undefined;
  /**
   * Pass back to `store` so a change in between makes the entry unusable;
   * undefined: do not store (a change of this customer is not in Redis yet).
   */
  readonly generation: string | undefined;
  /**
   * The customer's version now: a set computed after this lookup holds at
   * least every change counted in it. 0: not known (a change of this
   * customer is not in Redis yet).
   */
  readonly version: number;
}

/** A change waiting for Redis: one customer, or (customerId null) the whole project. */
const changeKey = (projectId: string, customerId: string | null) =>
  JSON.stringify([projectId, customerId]);

export class RedisEntitlementCache {
  /** Changes that could not reach Redis; replayed when it is back. */
  private readonly pendingInvalidations = new Set<string>();
  /** Bumps sent and not yet answered, per customer key (a count: they overlap). */
  private readonly bumpsInFlight = new Map<string, number>();

  constructor(
    private readonly redis: Redis,
    private readonly logger: Logger,
    private readonly feedRetainEntries: number = defaultFeedRetainEntries,
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
    if (this.changeNotInRedis(projectId, customerId)) {
      return { set: undefined, generation: undefined, version: 0 };
    }
    const [entry, generation, projectGeneration] = await this.redis.mget(
      entryKey(projectId, projectVersion, customerId),
      generationKey(projectId, customerId),
      projectGenerationKey(projectId),
    );
    const current = generation ?? '0';
    const version = Math.max(Number(current) || 0, Number(projectGeneration) || 0);
    if (!entry) return { set: undefined, generation: current, version };
    const parsed = parseEntry(entry);
    const usable = parsed && parsed.generation === current ? parsed.set : undefined;
    return {
      set: usable && version > 0 ? { ...usable, version } : usable,
      generation: current,
      version,
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
   * Counts a change of the customer (a new version and a feed entry). Never
   * rejects: a change must not fail because the cache is down. The customer
   * is marked before this returns, so a caller may answer without awaiting
   * it and this replica still reads its own write.
   */
  /** Resolves to the customer's new version; 0 when Redis could not count it (deferred). */
  async invalidate(projectId: string, customerId: string, usageOnly = false): Promise<number> {
    return this.counted(projectId, customerId, usageOnly);
  }

  /** Counts a change of the whole project (catalog, grace period); never rejects. */
  async projectChanged(projectId: string): Promise<void> {
    await this.counted(projectId, null, false);
  }

  private async counted(
    projectId: string,
    customerId: string | null,
    usageOnly: boolean,
  ): Promise<number> {
    const key = changeKey(projectId, customerId);
    this.bumpsInFlight.set(key, (this.bumpsInFlight.get(key) ?? 0) + 1);
    try {
      return await this.bump(projectId, customerId, usageOnly);
    } catch (err) {
      this.pendingInvalidations.add(key);
      this.logger.warn('entitlement cache: invalidation deferred until Redis is back', {
        error: err,
      });
      return 0;
    } finally {
      const left = (this.bumpsInFlight.get(key) ?? 1) - 1;
      if (left > 0) this.bumpsInFlight.set(key, left);
      else this.bumpsInFlight.delete(key);
    }
  }

  /** A change of this customer or its project that Redis does not count yet (in flight or deferred). */
  private changeNotInRedis(projectId: string, customerId: string): boolean {
    const own = changeKey(projectId, customerId);
    const project = changeKey(projectId, null);
    return (
      this.bumpsInFlight.has(own) ||
      this.pendingInvalidations.has(own) ||
      this.bumpsInFlight.has(project) ||
      this.pendingInvalidations.has(project)
    );
  }

  private async bump(
    projectId: string,
    customerId: string | null,
    usageOnly: boolean,
  ): Promise<number> {
    const projectKey = projectGenerationKey(projectId);
    const version = await this.redis.eval(
      bumpScript,
      3,
      customerId === null ? projectKey : generationKey(projectId, customerId),
      projectKey,
      feedKey(projectId),
      generationTtlSeconds,
      this.feedRetainEntries,
      customerId ?? '',
      usageOnly ? '1' : '0',
    );
    return typeof version === 'number' ? version : Number(version);
  }

  private async replayPending(): Promise<void> {
    for (const pending of [...this.pendingInvalidations]) {
      const [projectId, customerId] = JSON.parse(pending) as [string, string | null];
      try {
        // Whatever it was, it is fed as a full change: slower for streams, never wrong.
        await this.bump(projectId, customerId, false);
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
