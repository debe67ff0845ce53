import type { Collection, Db } from 'mongodb';
import type { PurchaseDoc, PurchaseItemDoc } from './documents.js';
import { isDuplicateKeyError } from './errors.js';

/** What a completed checkout session says about a one-time payment. */
export interface CheckoutFacts {
  readonly checkoutSessionId: string;
  readonly paymentIntentId: string | null;
  readonly stripeCustomerId: string | null;
  readonly items: readonly PurchaseItemDoc[];
  readonly paid: boolean;
  readonly amountTotal: number | null;
  readonly currency: string | null;
  readonly created: Date;
}

/**
 * Purchases merge facts that never go back (a session's line items, paid,
 * refunded), so applying them in any order, any number of times, ends in
 * the same document.
 */
export class PurchaseStore {
  private readonly purchases: Collection<PurchaseDoc>;

  constructor(db: Db) {
    this.purchases = db.collection<PurchaseDoc>('purchases');
  }

  async recordCheckout(projectId: string, facts: CheckoutFacts): Promise<void> {
    const purchaseKey = facts.paymentIntentId ?? facts.checkoutSessionId;
    const set: Partial<PurchaseDoc> = {
      checkout_session_id: facts.checkoutSessionId,
      payment_intent_id: facts.paymentIntentId,
      stripe_customer_id: facts.stripeCustomerId,
      items: [...facts.items],
      amount_total: facts.amountTotal,
      currency: facts.currency,
      created: facts.created,
    };
    if (facts.paid) set.paid = true;
    await this.upsert(projectId, purchaseKey, set);
  }

  async markPaid(projectId: string, purchaseKey: string): Promise<void> {
    await this.upsert(projectId, purchaseKey, { paid: true });
  }

  async markRefunded(projectId: string, paymentIntentId: string): Promise<void> {
    await this.upsert(projectId, paymentIntentId, {
      refunded: true,
      payment_intent_id: paymentIntentId,
    });
  }

  async get(projectId: string, purchaseKey: string): Promise<PurchaseDoc | null> {
    return this.purchases.findOne({ project_id: projectId, purchase_key: purchaseKey });
  }

  async listByStripeCustomer(projectId: string, stripeCustomerId: string): Promise<PurchaseDoc[]> {
    return this.purchases
      .find({ project_id: projectId, stripe_customer_id: stripeCustomerId })
      .toArray();
  }

  private async upsert(
    projectId: string,
    purchaseKey: string,
    set: Partial<PurchaseDoc>,
  ): Promise<void> {
    const defaults: Partial<PurchaseDoc> = {
      _id: `${projectId}:${purchaseKey}`,
      project_id: projectId,
      purchase_key: purchaseKey,
      checkout_session_id: null,
      payment_intent_id: null,
      stripe_customer_id: null,
      items: [],
      paid: false,
      refunded: false,
      amount_total: null,
      currency: null,
      created: null,
    };
    // $setOnInsert and $set may not name the same field.
    for (const field of Object.keys(set) as (keyof PurchaseDoc)[]) delete defaults[field];
    const write = () =>
      this.purchases.updateOne(
        { project_id: projectId, purchase_key: purchaseKey },
        { $set: set, $setOnInsert: defaults },
        { upsert: true },
      );
    try {
      await write();
    } catch (err) {
      // Two first writers raced to insert; the loser's update now finds the document.
      if (!isDuplicateKeyError(err)) throw err;
      await write();
    }
  }
}
