/**
 * The project change feed in Redis: one stream per project (`entfeed:{p}`),
 * one entry per change of a customer's entitlements or of the project. The
 * entry is added by the same script that bumps the customer's version
 * (RedisEntitlementCache), so a change is counted and fed in one atomic
 * step, and the feed's order is the order of the versions.
 *
 * The stream keeps about `retainEntries` entries (approximate trimming): a
 * reader that resumes from a position older than the oldest kept entry is
 * told to resync, never given a feed with a hole in it.
 */
import type { Redis } from 'ioredis';

/** `{p}` is a hash tag: every key of a project lands in one slot of a cluster. */
export const feedKey = (projectId: string) => `entfeed:{${projectId}}`;

/**
 * Entry fields: `c` the customer id ('' for the whole project), `u` '1' when
 * only usage changed, `v` the version the change got (0 in entries written
 * before versions were fed).
 */
export type FeedChange =
  | {
      readonly kind: 'customer';
      readonly customerId: string;
      readonly usageOnly: boolean;
      readonly version: number;
    }
  | { readonly kind: 'project' };

export interface FeedEntry {
  /** The stream entry id: the position after this entry. */
  readonly position: string;
  readonly change: FeedChange;
}

/** Where a reader goes on from, or why it cannot. */
export type FeedStart =
  | { readonly kind: 'ready'; readonly position: string }
  | { readonly kind: 'resync'; readonly position: string };

/** The position before any entry: a reader at it has missed nothing of an empty feed. */
export const feedOrigin = '0-0';

export class RedisChangeFeed {
  constructor(private readonly redis: Redis) {}

  /**
   * Where a reader that holds `resumeAfter` (empty: nothing) goes on from:
   * right after it when every entry since is still kept, else from the end
   * with a resync.
   */
  async start(projectId: string, resumeAfter: string): Promise<FeedStart> {
    const key = feedKey(projectId);
    const [newest, oldest] = await Promise.all([
      this.redis.xrevrange(key, '+', '-', 'COUNT', 1),
      resumeAfter === '' ? Promise.resolve([]) : this.redis.xrange(key, '-', '+', 'COUNT', 1),
    ]);
    const end = newest[0]?.[0] ?? feedOrigin;
    if (resumeAfter === '') return { kind: 'ready', position: end };
    const oldestKept = oldest[0]?.[0];
    const kept =
      oldestKept !== undefined &&
      compareIds(resumeAfter, end) <= 0 &&
      compareIds(oldestKept, resumeAfter) <= 0;
    return kept ? { kind: 'ready', position: resumeAfter } : { kind: 'resync', position: end };
  }

  /** Entries after `position`, oldest first, at most `count`. */
  async after(projectId: string, position: string, count: number): Promise<FeedEntry[]> {
    const raw = await this.redis.xrange(feedKey(projectId), `(${position}`, '+', 'COUNT', count);
    return raw.map(([id, fields]) => ({ position: id, change: changeOf(fields) }));
  }
}

function changeOf(fields: readonly string[]): FeedChange {
  const value = (name: string) => {
    const at = fields.indexOf(name);
    return at >= 0 && at % 2 === 0 ? (fields[at + 1] ?? '') : '';
  };
  const customerId = value('c');
  return customerId === ''
    ? { kind: 'project' }
    : {
        kind: 'customer',
        customerId,
        usageOnly: value('u') === '1',
        version: Number(value('v')) || 0,
      };
}

/** Orders stream ids (`ms-seq`); a malformed id sorts after every real one, so it resyncs. */
export function compareIds(a: string, b: string): number {
  const [aMs, aSeq] = idParts(a);
  const [bMs, bSeq] = idParts(b);
  return aMs === bMs ? Math.sign(aSeq - bSeq) : Math.sign(aMs - bMs);
}

function idParts(id: string): [number, number] {
  const match = /^(\d{1,16})-(\d{1,16})$/.exec(id);
  if (!match) return [Number.POSITIVE_INFINITY, 0];
  return [Number(match[1]), Number(match[2])];
}
