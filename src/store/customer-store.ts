import type { Collection, Db } from 'mongodb';
import type { CustomerLinkRecord } from '../domain/records.js';
import type { CustomerDoc, StripeCustomerOwnershipDoc } from './documents.js';
import { isDuplicateKeyError } from './errors.js';

/** How many owned Stripe customers one process remembers (some 100 bytes each). */
const maxRememberedOwned = 100_000;

export class CustomerStore {
  private readonly customers: Collection<CustomerDoc>;
  private readonly ownership: Collection<StripeCustomerOwnershipDoc>;
  /**
   * Ownership docs that say `owned: true`, by `_id`. That answer never turns
   * false (a link always sets true, a decision from metadata is written only
   * once, nothing deletes them), so every later event of the customer skips
   * its read: one MongoDB command of the six a subscription event costs.
   * `false` is not kept, since a later link turns it.
   */
  private readonly knownOwned = new Set<string>();

  constructor(db: Db) {
    this.customers = db.collection<CustomerDoc>('customers');
    this.ownership = db.collection<StripeCustomerOwnershipDoc>('stripe_customer_ownership');
  }

  /** Whether the Stripe customer is the project's, once decided; undefined: not decided yet. */
  async ownsStripeCustomer(
    projectId: string,
    stripeCustomerId: string,
  ): Promise<boolean | undefined> {
    const id = ownershipDocId(projectId, stripeCustomerId);
    if (this.knownOwned.has(id)) return true;
    const doc = await this.ownership.findOne({ _id: id });
    if (doc?.owned === true) this.rememberOwned(id);
    return doc?.owned;
  }

  private rememberOwned(id: string): void {
    if (this.knownOwned.size >= maxRememberedOwned) {
      // Sets iterate in insertion order: forget the oldest.
      const oldest = this.knownOwned.values().next();
      if (!oldest.done) this.knownOwned.delete(oldest.value);
    }
    this.knownOwned.add(id);
  }

  /**
   * Records whether the project owns a Stripe customer. A link always wins
   * (the project created or linked the customer itself); a decision from
   * metadata only fills a gap, so racing deliveries agree.
   */
  async recordOwnership(
    projectId: string,
    stripeCustomerId: string,
    decision: { owned: boolean; decidedBy: StripeCustomerOwnershipDoc['decided_by'] },
    now: Date,
  ): Promise<void> {
    const fields = { owned: decision.owned, decided_by: decision.decidedBy };
    const identity = {
      project_id: projectId,
      stripe_customer_id: stripeCustomerId,
      created_at: now,
    };
    try {
      await this.ownership.updateOne(
        { _id: ownershipDocId(projectId, stripeCustomerId) },
        decision.decidedBy === 'linked'
          ? { $set: fields, $setOnInsert: identity }
          : { $setOnInsert: { ...fields, ...identity } },
        { upsert: true },
      );
    } catch (err) {
      // Two first decisions at once: one upsert inserted, the other lost the race.
      if (!isDuplicateKeyError(err)) throw err;
    }
  }

  /** By `_id`: on FerretDB any other filter scans the collection (docs/ferretdb.md). */
  async findByCustomerId(projectId: string, customerId: string): Promise<CustomerDoc | null> {
    return this.customers.findOne({ _id: customerDocId(projectId, customerId) });
  }

  /**
   * The links whose customer id or Stripe customer id is `query` (at most
   * two: both are unique per project).
   */
  async find(projectId: string, query: string): Promise<CustomerLinkRecord[]> {
    const [byCustomerId, byStripeId] = await Promise.all([
      this.findByCustomerId(projectId, query),
      this.customers.findOne({ project_id: projectId, stripe_customer_id: query }),
    ]);
    const found = [byCustomerId, byStripeId].filter((doc) => doc !== null);
    if (found.length === 2 && found[0]?._id === found[1]?._id) found.pop();
    return found.map(({ customer_id, stripe_customer_id, created_at }) => ({
      customer_id,
      stripe_customer_id,
      created_at,
    }));
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
   * retry or a concurrent link returns what is stored. The linked Stripe
   * customer is the project's from then on.
   */
  async link(
    projectId: string,
    customerId: string,
    stripeCustomerId: string,
    now: Date,
  ): Promise<CustomerDoc> {
    const link = await this.linkOnce(projectId, customerId, stripeCustomerId, now);
    await this.recordOwnership(
      projectId,
      link.stripe_customer_id,
      { owned: true, decidedBy: 'linked' },
      now,
    );
    return link;
  }

  private async linkOnce(
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

function ownershipDocId(projectId: string, stripeCustomerId: string): string {
  return `${projectId}:${stripeCustomerId}`;
}
