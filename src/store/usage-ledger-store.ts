/**
 * The usage ledger: insert-only entries per bucket (project, customer,
 * feature, period), `_id = <bucket>:<seq>` with seq 1, 2, 3..., each holding
 * the period's running total after it. FerretDB's updates are not atomic
 * (docs/ferretdb.md, finding 2), so there is no `$inc` on a shared
 * document: an append reads the head and inserts seq + 1; a concurrent
 * appender loses on the unique `_id` (11000), re-reads and retries. That
 * serialises every writer of a bucket, across replicas, so a refusal under
 * `enforce` is exact.
 *
 * The head is found by `_id` only (any other filter scans the collection,
 * finding 6): from an in-process hint of the last seq, then forward by
 * exponential and binary search; seqs are contiguous because entries of a
 * period are never deleted while it is current.
 */
import type { Collection, Db } from 'mongodb';
import { ConflictError } from '../domain/errors.js';
import { wouldOverspend } from '../domain/usage-balance.js';
import { insertOnce } from './insert-once.js';

export interface UsageEntryDoc {
  /** `<bucket>:<seq, 10 digits>`. */
  _id: string;
  bucket: string;
  seq: number;
  project_id: string;
  customer_id: string;
  feature: string;
  period_end: Date;
  amount: number;
  /** The period's total after this entry. */
  total_after: number;
  usage_id: string;
  idempotency_key: string;
  occurred_at: Date;
  recorded_at: Date;
}

/** The period a usage counts in, keyed by its end (exact also for a previous billing period). */
export interface UsageBucket {
  readonly projectId: string;
  readonly customerId: string;
  readonly feature: string;
  readonly periodEnd: Date;
}

export interface UsageToAppend {
  readonly amount: number;
  readonly usageId: string;
  readonly idempotencyKey: string;
  readonly occurredAt: Date;
}

export interface LedgerHead {
  readonly seq: number;
  readonly total: number;
}

export type AppendOutcome =
  | { readonly kind: 'appended'; readonly entry: UsageEntryDoc }
  | { readonly kind: 'refused'; readonly total: number };

const emptyHead: LedgerHead = { seq: 0, total: 0 };
/** Each lost race means another writer appended; past this many, give up and let the caller retry. */
const maxAppendAttempts = 32;
const maxHints = 10_000;

export function bucketId(bucket: UsageBucket): string {
  return [bucket.projectId, bucket.customerId, bucket.feature, String(bucket.periodEnd.getTime())]
    .map(encodeURIComponent)
    .join(':');
}

const entryId = (bucket: string, seq: number) => `${bucket}:${String(seq).padStart(10, '0')}`;

export class UsageLedgerStore {
  private readonly entries: Collection<UsageEntryDoc>;
  /** The last head seen per bucket: a warm head costs two lookups by `_id`. */
  private readonly hints = new Map<string, LedgerHead>();
  /** Appends of one bucket in this process run one after another: only replicas race. */
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(db: Db) {
    this.entries = db.collection<UsageEntryDoc>('usage_entries');
  }

  /** The period's total so far (0 when nothing was recorded). */
  async total(bucket: UsageBucket): Promise<number> {
    return (await this.head(bucketId(bucket))).total;
  }

  async head(bucket: string): Promise<LedgerHead> {
    const hint = this.hints.get(bucket);
    const start = hint && (await this.exists(bucket, hint.seq)) ? hint : emptyHead;
    const head = await this.searchForward(bucket, start);
    this.remember(bucket, head);
    return head;
  }

  /**
   * Appends `usage` unless, with `limit` set, the period's total would pass
   * it (then nothing is written and the current total is answered).
   */
  append(bucket: UsageBucket, usage: UsageToAppend, limit: number | null): Promise<AppendOutcome> {
    const id = bucketId(bucket);
    const previous = this.tails.get(id) ?? Promise.resolve();
    const next = previous.then(
      () => this.appendNow(bucket, id, usage, limit),
      () => this.appendNow(bucket, id, usage, limit),
    );
    this.tails.set(id, next);
    const cleanup = () => {
      if (this.tails.get(id) === next) this.tails.delete(id);
    };
    next.then(cleanup, cleanup);
    return next;
  }

  /** The entry of `usageId` after seq `afterSeq`, if one was written (a crashed call's). */
  async findUsage(
    bucket: string,
    afterSeq: number,
    usageId: string,
  ): Promise<UsageEntryDoc | null> {
    for (let seq = afterSeq + 1; ; seq++) {
      const entry = await this.entries.findOne({ _id: entryId(bucket, seq) });
      if (!entry) return null;
      if (entry.usage_id === usageId) return entry;
    }
  }

  private async appendNow(
    bucket: UsageBucket,
    id: string,
    usage: UsageToAppend,
    limit: number | null,
  ): Promise<AppendOutcome> {
    for (let attempt = 0; attempt < maxAppendAttempts; attempt++) {
      const head = await this.head(id);
      if (wouldOverspend(limit, head.total, usage.amount)) {
        return { kind: 'refused', total: head.total };
      }
      const entry = newEntry(bucket, id, head, usage);
      if ((await insertOnce(this.entries, entry)) === 'inserted') {
        this.remember(id, { seq: entry.seq, total: entry.total_after });
        return { kind: 'appended', entry };
      }
    }
    throw new ConflictError('usage of this feature is too contended right now; retry');
  }

  private async exists(bucket: string, seq: number): Promise<boolean> {
    if (seq === 0) return true;
    return (await this.entries.findOne({ _id: entryId(bucket, seq) })) !== null;
  }

  /** From a seq that exists: doubling steps until one is missing, then bisect. */
  private async searchForward(bucket: string, from: LedgerHead): Promise<LedgerHead> {
    let low = from;
    let step = 1;
    let high: number;
    for (;;) {
      const entry = await this.entries.findOne({ _id: entryId(bucket, low.seq + step) });
      if (!entry) {
        high = low.seq + step;
        break;
      }
      low = { seq: entry.seq, total: entry.total_after };
      step *= 2;
    }
    while (high - low.seq > 1) {
      const middle = Math.floor((low.seq + high) / 2);
      const entry = await this.entries.findOne({ _id: entryId(bucket, middle) });
      if (entry) low = { seq: entry.seq, total: entry.total_after };
      else high = middle;
    }
    return low;
  }

  private remember(bucket: string, head: LedgerHead): void {
    this.hints.delete(bucket);
    this.hints.set(bucket, head);
    if (this.hints.size > maxHints) {
      const oldest = this.hints.keys().next();
      if (!oldest.done) this.hints.delete(oldest.value);
    }
  }
}

function newEntry(
  bucket: UsageBucket,
  id: string,
  head: LedgerHead,
  usage: UsageToAppend,
): UsageEntryDoc {
  const seq = head.seq + 1;
  return {
    _id: entryId(id, seq),
    bucket: id,
    seq,
    project_id: bucket.projectId,
    customer_id: bucket.customerId,
    feature: bucket.feature,
    period_end: bucket.periodEnd,
    amount: usage.amount,
    total_after: head.total + usage.amount,
    usage_id: usage.usageId,
    idempotency_key: usage.idempotencyKey,
    occurred_at: usage.occurredAt,
    recorded_at: new Date(),
  };
}
