import type { Collection, Db } from 'mongodb';
import type { CustomerDoc } from './documents.js';
import { isDuplicateKeyError } from './errors.js';

export class CustomerStore {
  private readonly customers: Collection<CustomerDoc>;

  constructor(db: Db) {
    this.customers = db.collection<CustomerDoc>('customers');
  }

  async findByCustomerId(projectId: string, customerId: string): Promise<CustomerDoc | null> {
    return this.customers.findOne({ project_id: projectId, customer_id: customerId });
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
        { project_id: projectId, customer_id: customerId },
        {
          $setOnInsert: {
            _id: `${projectId}:${customerId}`,
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
