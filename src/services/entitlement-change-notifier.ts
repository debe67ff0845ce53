/**
 * Everything that changes a customer's entitlements ends here: the change
 * is written to the customer's timeline with its cause while the Redis
 * entry is invalidated and the change is broadcast, which evicts process
 * memory on every replica (and feeds WatchEntitlements streams).
 *
 * Usage is the exception in how often it is broadcast: the Redis entry is
 * invalidated and this replica evicted at every track (read-your-writes
 * here), but the broadcast is coalesced per customer, at most one per
 * window, the last one always sent (docs/decisions.md, "Coalesced balance
 * changes"), and neither holds up the track's answer.
 */
import type { RedisEntitlementCache } from '../cache/entitlement-cache.js';
import type { InvalidationBus, InvalidationMessage } from '../cache/invalidation-bus.js';
import type { TimelineCause } from '../domain/timeline.js';
import type { CustomerStore } from '../store/customer-store.js';
import { ChangeCoalescer, type CoalescerClock, systemClock } from './change-coalescer.js';
import type { ProjectTermsChange, RecordedChange, TimelineRecorder } from './timeline-recorder.js';

/** Who keeps figures over stored subscriptions (the ProjectFiguresCache). */
export interface SubscriptionChanges {
  /** Applied here before it resolves, then broadcast; never rejects. */
  subscriptionsChanged(projectId: string, stripeCustomerIds: Iterable<string>): Promise<void>;
  subscriptionsReconciled(projectId: string): Promise<void>;
}

const noSubscriptionFigures: SubscriptionChanges = {
  subscriptionsChanged: async () => {},
  subscriptionsReconciled: async () => {},
};

/** A recorded change of a customer's facts, with the version it was counted at. */
export interface CustomerChange {
  readonly projectId: string;
  readonly customerId: string;
  readonly cause: TimelineCause;
  /** 0 when Redis could not count it. */
  readonly version: number;
  readonly change: RecordedChange;
}

/** Who makes outbound events of customers' changes (OutboundEventService); never rejects. */
export interface CustomerChangeEvents {
  customerChanged(change: CustomerChange): Promise<void>;
}

const noEvents: CustomerChangeEvents = { customerChanged: async () => {} };

export class EntitlementChangeNotifier {
  private readonly usageBroadcasts: ChangeCoalescer<InvalidationMessage>;
  /** Usage changes whose bump or broadcast has not finished (awaited by `flush`). */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly redisCache: RedisEntitlementCache,
    private readonly bus: InvalidationBus,
    private readonly customers: CustomerStore,
    private readonly timeline: Pick<TimelineRecorder, 'customerChanged' | 'projectChanged'>,
    usageCoalesceMs: number,
    clock: CoalescerClock = systemClock,
    private readonly subscriptions: SubscriptionChanges = noSubscriptionFigures,
    private readonly events: CustomerChangeEvents = noEvents,
  ) {
    this.usageBroadcasts = new ChangeCoalescer(
      usageCoalesceMs,
      (message) => bus.publish(message),
      clock,
    );
  }

  async customersChanged(
    projectId: string,
    customerIds: Iterable<string>,
    cause: TimelineCause,
  ): Promise<void> {
    for (const customerId of new Set(customerIds)) {
      // The entry is written beside the invalidation, not before it: a
      // webhook waits for the longer of the two, and fails (so Stripe
      // retries) if either does.
      const [change, version] = await Promise.all([
        this.timeline.customerChanged(projectId, customerId, cause),
        this.announce(projectId, customerId),
      ]);
      if (change)
        await this.events.customerChanged({ projectId, customerId, cause, version, change });
    }
  }

  /** Resolves to the version the change was counted at (0: not counted yet). */
  private async announce(projectId: string, customerId: string): Promise<number> {
    const version = await this.redisCache.invalidate(projectId, customerId);
    await this.bus.publish({ kind: 'entitlements', projectId, customerId });
    this.usageBroadcasts.immediateChangeSent(customerKey(projectId, customerId));
    return version;
  }

  /**
   * Only the customer's usage changed (a track, a reservation): a balance to
   * show. Answers at once: this replica evicts now, and the Redis bump (which
   * marks the customer here until it lands, see RedisEntitlementCache) and
   * the coalesced broadcast follow without holding up the caller's ack. The
   * broadcast goes out only once the bump landed, so a replica that evicts on
   * it never reads the older Redis entry as current.
   */
  usageChanged(projectId: string, customerId: string): void {
    const message: InvalidationMessage = {
      kind: 'entitlements',
      projectId,
      customerId,
      usageOnly: true,
    };
    const bumped = this.redisCache.invalidate(projectId, customerId, true);
    this.bus.deliverLocally(message);
    const broadcast = bumped
      .then(() => this.usageBroadcasts.usageChanged(customerKey(projectId, customerId), message))
      .then(
        () => undefined,
        () => undefined, // The bus only logs its failures; nothing is left to tell here.
      );
    this.inFlight.add(broadcast);
    void broadcast.finally(() => this.inFlight.delete(broadcast));
  }

  /** Broadcasts every usage change still in flight or waiting for its window (before Redis closes). */
  async flush(): Promise<void> {
    await Promise.all(this.inFlight);
    await this.usageBroadcasts.flush();
  }

  async stripeCustomersChanged(
    projectId: string,
    stripeCustomerIds: Iterable<string>,
    cause: TimelineCause,
  ): Promise<void> {
    const ids = new Set(stripeCustomerIds);
    // Their stored subscriptions changed: the business figures re-read them.
    await this.subscriptions.subscriptionsChanged(projectId, ids);
    for (const stripeCustomerId of ids) {
      await this.customersChanged(
        projectId,
        await this.customers.customerIdsOf(projectId, stripeCustomerId),
        cause,
      );
    }
  }

  /**
   * The project changed: its timeline has the change when the catalog or
   * grace period did; counted (versions, change feed), then broadcast.
   */
  async projectChanged(projectId: string, change: ProjectTermsChange): Promise<void> {
    await this.timeline.projectChanged(projectId, change);
    await this.redisCache.projectChanged(projectId);
    await this.bus.publish({ kind: 'project', projectId });
  }

  /** A reconciliation run finished: figures over the project's subscriptions are rebuilt. */
  async subscriptionsReconciled(projectId: string): Promise<void> {
    await this.subscriptions.subscriptionsReconciled(projectId);
  }
}

const customerKey = (projectId: string, customerId: string) => `${projectId}\u0000${customerId}`;
