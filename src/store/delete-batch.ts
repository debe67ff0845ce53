/**
 * One bounded batch of a sweep: read up to `limit` ids that match, then
 * delete those whose document still matches. A sweep calls it until a batch
 * comes back short, so no single delete holds the database for long (on
 * FerretDB's SQLite backend each batch scans the collection once: only `_id`
 * equality reaches SQLite; see docs/ferretdb.md, finding 6).
 */
import type { Collection, Filter } from 'mongodb';

export interface DeleteBatchResult {
  /** Ids that matched when read; fewer than the limit: nothing more to sweep. */
  readonly matched: number;
  readonly deleted: number;
}

export async function deleteBatch<T extends { _id: string }>(
  collection: Collection<T>,
  filter: Filter<T>,
  limit: number,
): Promise<DeleteBatchResult> {
  const found = await collection.find(filter, { projection: { _id: 1 }, limit }).toArray();
  const ids = found.map((doc) => doc._id);
  if (ids.length === 0) return { matched: 0, deleted: 0 };
  // The filter again: a document that changed since it was read (a receipt claimed anew) stays.
  // The driver's Filter type cannot follow a generic document: spelled out, then cast.
  const stillMatching = { $and: [{ _id: { $in: ids } }, filter] } as Filter<T>;
  const result = await collection.deleteMany(stillMatching);
  return { matched: ids.length, deleted: result.deletedCount };
}
