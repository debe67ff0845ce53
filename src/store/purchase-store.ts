/**
 * One-time purchases as insert-only facts (see PurchaseFactDoc): no document
 * is ever updated, so concurrent deliveries cannot lose each other's writes
 * (FerretDB runs updates as read-then-write), and a duplicate is a no-op.
 */
import type { Collection, Db } from 'mongodb';
import { purchaseKey } from '../domain/purchases.js';
import type { Purchase, PurchaseFactDoc, PurchaseFactKind, PurchaseItemDoc } from './documents.js';
import { insertOnce } from './insert-once.js';

/** What a completed checkout session says about a one-time payment. */
export interface CheckoutFacts {
  readonly checkoutSessionId: string;
  readonly paymentIntentId: string | null;
  readonly stripeCustomerId: string | null;
  readonly items: readonly PurchaseItemDoc[];
  readonly amountTotal: number | null;
  readonly currency: string | null;
  readonly created: Date;
}

export class PurchaseStore {
  private readonly facts: Collection<PurchaseFactDoc>;

  constructor(db: Db) {
    this.facts = db.collection<PurchaseFactDoc>('purchases');
  }

  async recordCheckout(projectId: string, facts: CheckoutFacts, now: Date): Promise<void> {
    const key = purchaseKey(facts.checkoutSessionId, facts.paymentIntentId);
    await this.insert({
      ...this.bare(projectId, key, 'checkout', now),
      checkout_session_id: facts.checkoutSessionId,
      stripe_customer_id: facts.stripeCustomerId,
      items: [...facts.items],
      amount_total: facts.amountTotal,
      currency: facts.currency,
      created: facts.created,
    });
  }

  async recordPaid(projectId: string, purchaseKey: string, now: Date): Promise<void> {
    await this.insert(this.bare(projectId, purchaseKey, 'paid', now));
  }

  async recordRefunded(
    projectId: string,
    paymentIntentId: string,
    stripeCustomerId: string | null,
    now: Date,
  ) {
    await this.insert({
      ...this.bare(projectId, paymentIntentId, 'refunded', now),
      stripe_customer_id: stripeCustomerId,
    });
  }

  /** The purchases whose checkout names this Stripe customer. */
  async listByStripeCustomer(projectId: string, stripeCustomerId: string): Promise<Purchase[]> {
    const checkouts = await this.facts
      .find({ project_id: projectId, stripe_customer_id: stripeCustomerId, fact: 'checkout' })
      .toArray();
    if (checkouts.length === 0) return [];
    const later = await this.facts
      .find({
        project_id: projectId,
        purchase_key: { $in: checkouts.map((c) => c.purchase_key) },
        fact: { $in: ['paid', 'refunded'] },
      })
      .toArray();
    return checkouts.map((checkout) => {
      const factOf = (kind: PurchaseFactKind) =>
        later.find((f) => f.purchase_key === checkout.purchase_key && f.fact === kind);
      const [paid, refunded] = [factOf('paid'), factOf('refunded')];
      return {
        purchase_key: checkout.purchase_key,
        checkout_session_id: checkout.checkout_session_id,
        stripe_customer_id: checkout.stripe_customer_id,
        items: checkout.items,
        paid: paid !== undefined,
        refunded: refunded !== undefined,
        paid_at: paid?.created ?? null,
        refunded_at: refunded?.created ?? null,
      };
    });
  }

  /** The Stripe customer a purchase's checkout named, if its checkout is known. */
  async stripeCustomerOf(projectId: string, purchaseKey: string): Promise<string | null> {
    const checkout = await this.facts.findOne({
      project_id: projectId,
      purchase_key: purchaseKey,
      fact: 'checkout',
    });
    return checkout?.stripe_customer_id ?? null;
  }

  private bare(
    projectId: string,
    purchaseKey: string,
    fact: PurchaseFactKind,
    now: Date,
  ): PurchaseFactDoc {
    return {
      _id: `${projectId}:${purchaseKey}:${fact}`,
      project_id: projectId,
      purchase_key: purchaseKey,
      fact,
      checkout_session_id: null,
      stripe_customer_id: null,
      items: [],
      amount_total: null,
      currency: null,
      created: now,
    };
  }

  private async insert(doc: PurchaseFactDoc): Promise<void> {
    // 'exists': the same fact again, a duplicate delivery, nothing to add.
    await insertOnce(this.facts, doc);
  }
}
