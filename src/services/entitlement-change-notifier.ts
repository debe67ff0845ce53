/**
 * Everything that changes a customer's entitlements ends here: the Redis
 * entry is invalidated and the change is broadcast, which evicts process
 * memory on every replica (and feeds WatchEntitlements streams).
 *
 * Usage is the exception in how often it is broadcast: the Redis entry is
 * invalidated and this replica evicted at every track (read-your-writes
 * here), but the broadcast is coalesced per customer, at most one per
 * window, the last one always sent (docs/decisions.md, "Coalesced balance
 * changes").
 */
import type { RedisEntitlementCache } from '../cache/entitlement-cache.js';
import type { InvalidationBus, InvalidationMessage } from '../cache/invalidation-bus.js';
import type { CustomerStore } from '../store/customer-store.js';
import { ChangeCoalescer, type CoalescerClock, systemClock } from './change-coalescer.js';

export class EntitlementChangeNotifier {
  private readonly usageBroadcasts: ChangeCoalescer<InvalidationMessage>;

  constructor(
    private readonly redisCache: RedisEntitlementCache,
    private readonly bus: InvalidationBus,
    private readonly customers: CustomerStore,
    usageCoalesceMs: number,
    clock: CoalescerClock = systemClock,
  ) {
    this.usageBroadcasts = new ChangeCoalescer(
      usageCoalesceMs,
      (message) => bus.publish(message),
      clock,
    );
  }

  async customersChanged(projectId: string, customerIds: Iterable<string>): Promise<void> {
    for (const customerId of new Set(customerIds)) {
      await this.redisCache.invalidate(projectId, customerId);
      await this.bus.publish({ kind: 'entitlements', projectId, customerId });
      this.usageBroadcasts.immediateChangeSent(customerKey(projectId, customerId));
    }
  }

  /** Only the customer's usage changed (a track, a reservation): a balance to show. */
  async usageChanged(projectId: string, customerId: string): Promise<void> {
    await this.redisCache.invalidate(projectId, customerId);
    const message: InvalidationMessage = {
      kind: 'entitlements',
      projectId,
      customerId,
      usageOnly: true,
    };
    const published = await this.usageBroadcasts.usageChanged(
      customerKey(projectId, customerId),
      message,
    );
    // A publish delivers here too; without one, this replica still evicts at once.
    if (!published) this.bus.deliverLocally(message);
  }

  /** Broadcasts every usage change still waiting for its window (before Redis closes). */
  async flush(): Promise<void> {
    await this.usageBroadcasts.flush();
  }

  async stripeCustomersChanged(
    projectId: string,
    stripeCustomerIds: Iterable<string>,
  ): Promise<void> {
    for (const stripeCustomerId of new Set(stripeCustomerIds)) {
      await this.customersChanged(
        projectId,
        await this.customers.customerIdsOf(projectId, stripeCustomerId),
      );
    }
  }
}

const customerKey = (projectId: string, customerId: string) => `${projectId}\u0000${customerId}`;
