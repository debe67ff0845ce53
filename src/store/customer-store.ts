import type { Collection, Db } from 'mongodb';
import type { CustomerDoc } from './documents.js';
import { isDuplicateKeyError } from './errors.js';

export class CustomerStore {
  private readonly customers: Collection<CustomerDoc>;

  constructor(db: Db) {
    this.customers = db.collection<CustomerDoc>('customers');
  }

  /** By `_id`: on FerretDB any other filter scans the collection (docs/ferretdb.md). */
  async findByCustomerId(projectId: string, customerId: string): Promise<CustomerDoc | null> {
    return this.customers.findOne({ _id: customerDocId(projectId, customerId) });
  }

  /** The product's customer ids linked to a Stripe customer (normally one). */
  async customerIdsOf(projectId: string, stripeCustomerId: string): Promise<string[]> {
    const docs = await this.customers
      .find(
        { project_id: projectId, stripe_customer_id: stripeCustomerId },
        { projection: { customer_id: 1 } },
      )
      .toArray();
    return docs.map((doc) => doc.customer_id);
  }

  /**
   * Links a customer id to a Stripe customer, once: the first link wins and a
   * retry or a concurrent link returns what is stored.
   */
  async link(
    projectId: string,
    customerId: string,
    stripeCustomerId: string,
    now: Date,
  ): Promise<CustomerDoc> {
    try {
      const linked = await this.customers.findOneAndUpdate(
        { _id: customerDocId(projectId, customerId) },
        {
          $setOnInsert: {
            project_id: projectId,
            customer_id: customerId,
            stripe_customer_id: stripeCustomerId,
            created_at: now,
          },
        },
        { upsert: true, returnDocument: 'after' },
      );
      if (linked) return linked;
    } catch (err) {
      if (!isDuplicateKeyError(err)) throw err;
    }
    const existing = await this.findByCustomerId(projectId, customerId);
    if (!existing) throw new Error(`customer link for ${customerId} vanished`);
    return existing;
  }
}

/** Project ids hold no `:`, so this is unique per (project, customer id). */
function customerDocId(projectId: string, customerId: string): string {
  return `${projectId}:${customerId}`;
}
