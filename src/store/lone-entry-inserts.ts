/**
 * Group commit across chains. A chain's writer that has one entry to
 * insert (the usual case when many customers track at once: every chain
 * has one caller) hands it here instead of inserting it alone. The first
 * entries go at once; while `maxInFlight` inserts are out, later ones wait
 * and go together as one unordered insertMany when an insert comes back.
 * So a lone caller waits for nothing more, and 16 callers of 16 chains
 * cost a few round trips and one command's driver work, not 16.
 *
 * Unordered is safe here: each entry is its chain's only pending one, so
 * entries of one batch never depend on each other. A unique index's refusal
 * answers that entry "not inserted" (its writer finds out why); any other
 * failure fails every entry of the batch (which landed is unknown, and the
 * callers retry with their once keys).
 */
import {
  type Collection,
  type Document,
  MongoBulkWriteError,
  MongoServerError,
  type OptionalUnlessRequiredId,
} from 'mongodb';

interface PendingInsert<T> {
  readonly doc: OptionalUnlessRequiredId<T>;
  readonly settle: (inserted: boolean) => void;
  readonly fail: (error: unknown) => void;
}

const duplicateKey = 11000;

export class LoneEntryInserts<T extends Document> {
  private readonly waiting: PendingInsert<T>[] = [];
  private inFlight = 0;

  constructor(
    private readonly collection: Collection<T>,
    private readonly maxInFlight = 1,
    private readonly maxBatch = 64,
  ) {}

  /** True when inserted; false when a unique index refused it. */
  insert(doc: OptionalUnlessRequiredId<T>): Promise<boolean> {
    return new Promise((settle, fail) => {
      this.waiting.push({ doc, settle, fail });
      if (this.inFlight < this.maxInFlight) this.send();
    });
  }

  private send(): void {
    const batch = this.waiting.splice(0, this.maxBatch);
    if (batch.length === 0) return;
    this.inFlight += 1;
    this.insertBatch(batch).finally(() => {
      this.inFlight -= 1;
      if (this.waiting.length > 0 && this.inFlight < this.maxInFlight) this.send();
    });
  }

  private async insertBatch(batch: readonly PendingInsert<T>[]): Promise<void> {
    const [only] = batch;
    if (only !== undefined && batch.length === 1) {
      await this.collection.insertOne(only.doc).then(
        () => only.settle(true),
        (err: unknown) => (isDuplicate(err) ? only.settle(false) : only.fail(err)),
      );
      return;
    }
    try {
      await this.collection.insertMany(
        batch.map((p) => p.doc),
        { ordered: false },
      );
      for (const pending of batch) pending.settle(true);
    } catch (err) {
      const refused = refusedIndexes(err);
      if (refused === undefined) {
        for (const pending of batch) pending.fail(err);
        return;
      }
      batch.forEach((pending, index) => {
        pending.settle(!refused.has(index));
      });
    }
  }
}

function isDuplicate(err: unknown): boolean {
  return err instanceof MongoServerError && err.code === duplicateKey;
}

/** The indexes a unique index refused, if every error of the bulk write is such a refusal. */
function refusedIndexes(err: unknown): ReadonlySet<number> | undefined {
  if (!(err instanceof MongoBulkWriteError)) return undefined;
  const errors = [err.writeErrors].flat();
  if (errors.length === 0 || errors.some((e) => e.code !== duplicateKey)) return undefined;
  return new Set(errors.map((e) => e.index));
}
