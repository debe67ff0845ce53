import type { Collection, Document, OptionalUnlessRequiredId } from 'mongodb';
import { isDuplicateKeyError } from './errors.js';

/**
 * Inserts `doc` unless a unique index (or its `_id`) says it is there
 * already. FerretDB has no transactions (docs/ferretdb.md), so insert-only
 * writes are made idempotent this way: a second delivery, a second replica
 * or a retried call gets 'exists' instead of an error. Other errors throw.
 */
export async function insertOnce<T extends Document>(
  collection: Collection<T>,
  doc: OptionalUnlessRequiredId<T>,
): Promise<'inserted' | 'exists'> {
  try {
    await collection.insertOne(doc);
    return 'inserted';
  } catch (err) {
    if (isDuplicateKeyError(err)) return 'exists';
    throw err;
  }
}
