/**
 * Everything that changes a customer's entitlements ends here: the Redis
 * entry is invalidated and the change is broadcast, which evicts process
 * memory on every replica (and feeds WatchEntitlements streams).
 */
import type { RedisEntitlementCache } from '../cache/entitlement-cache.js';
import type { InvalidationBus } from '../cache/invalidation-bus.js';
import type { CustomerStore } from '../store/customer-store.js';

export class EntitlementChangeNotifier {
  constructor(
    private readonly redisCache: RedisEntitlementCache,
    private readonly bus: InvalidationBus,
    private readonly customers: CustomerStore,
  ) {}

  async customersChanged(projectId: string, customerIds: Iterable<string>): Promise<void> {
    for (const customerId of new Set(customerIds)) {
      await this.redisCache.invalidate(projectId, customerId);
      await this.bus.publish({ kind: 'entitlements', projectId, customerId });
    }
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
