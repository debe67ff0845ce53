import type { Collection, Db } from 'mongodb';
import type { SubscriptionDoc } from './documents.js';
import { isDuplicateKeyError } from './errors.js';

export type ApplyOutcome = 'applied' | 'stale';

export class SubscriptionStore {
  private readonly subscriptions: Collection<SubscriptionDoc>;

  constructor(db: Db) {
    this.subscriptions = db.collection<SubscriptionDoc>('subscriptions');
  }

  /**
   * Stores the subscription unless what is stored came from an event at least
   * as new. One atomic upsert: when the stored copy is newer the filter
   * misses, the upsert collides with the unique index, and that collision
   * means "stale". Equal event times are resolved by the caller.
   */
  async applyIfNewer(doc: SubscriptionDoc): Promise<ApplyOutcome> {
    const { _id, ...fields } = doc;
    try {
      await this.subscriptions.updateOne(
        {
          project_id: doc.project_id,
          stripe_subscription_id: doc.stripe_subscription_id,
          event_created: { $lt: doc.event_created },
        },
        { $set: fields, $setOnInsert: { _id } },
        { upsert: true },
      );
      return 'applied';
    } catch (err) {
      if (isDuplicateKeyError(err)) return 'stale';
      throw err;
    }
  }

  /** Replaces the stored copy when it came from an event no newer than this one. */
  async replaceIfNotNewer(doc: SubscriptionDoc): Promise<ApplyOutcome> {
    const { _id, ...fields } = doc;
    const result = await this.subscriptions.updateOne(
      {
        project_id: doc.project_id,
        stripe_subscription_id: doc.stripe_subscription_id,
        event_created: { $lte: doc.event_created },
      },
      { $set: fields },
    );
    return result.matchedCount === 1 ? 'applied' : 'stale';
  }

  async get(projectId: string, subscriptionId: string): Promise<SubscriptionDoc | null> {
    return this.subscriptions.findOne({
      project_id: projectId,
      stripe_subscription_id: subscriptionId,
    });
  }

  async listByStripeCustomer(
    projectId: string,
    stripeCustomerId: string,
  ): Promise<SubscriptionDoc[]> {
    return this.subscriptions
      .find({ project_id: projectId, stripe_customer_id: stripeCustomerId })
      .toArray();
  }
}
