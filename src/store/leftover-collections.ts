/**
 * Collections that earlier layouts wrote and nothing reads any more: the
 * idempotency claims of usage (`usage_claims`, `usage_claim_takeovers`)
 * and the reservation documents (`usage_reservations`). Reservations and
 * their ends are ledger entries with once keys now (usage-ledger-store.ts).
 * The retention job drops them once: a later run finds none.
 */
import { type Db, MongoServerError } from 'mongodb';

export const leftoverCollectionNames = [
  'usage_claims',
  'usage_claim_takeovers',
  'usage_reservations',
] as const;

/** MongoDB's NamespaceNotFound: another replica dropped it first. */
const namespaceNotFound = 26;

export class LeftoverCollections {
  constructor(private readonly db: Db) {}

  /** Drops those present; answers how many this call dropped. */
  async drop(): Promise<number> {
    const present = await this.db.listCollections({}, { nameOnly: true }).toArray();
    const names = new Set(present.map((c) => c.name));
    let dropped = 0;
    for (const name of leftoverCollectionNames) {
      if (!names.has(name)) continue;
      if (await this.dropOne(name)) dropped++;
    }
    return dropped;
  }

  private async dropOne(name: string): Promise<boolean> {
    try {
      return await this.db.dropCollection(name);
    } catch (error) {
      if (error instanceof MongoServerError && error.code === namespaceNotFound) return false;
      throw error;
    }
  }
}
