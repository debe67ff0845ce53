/**
 * Cross-replica cache invalidation over Redis pub/sub. Each replica keeps hot
 * data (API keys, entitlements) in process memory and evicts it when a
 * message arrives here. Delivery is at most once: while Redis is down,
 * messages are lost, so every in-memory cache also has a TTL that bounds how
 * stale it can get (docs/decisions.md, "API keys" and "Caching entitlements").
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';

export type InvalidationMessage =
  | { readonly kind: 'api_key'; readonly secretHash: string }
  | { readonly kind: 'project'; readonly projectId: string }
  /** The project's outbound webhook endpoints changed. */
  | { readonly kind: 'webhook_endpoints'; readonly projectId: string }
  | {
      readonly kind: 'entitlements';
      readonly projectId: string;
      readonly customerId: string;
      /**
       * Only usage (a balance) changed: streams may coalesce it
       * (docs/decisions.md, "Coalesced balance changes"). Absent: any other
       * change, never delayed. A replica that does not know the flag treats
       * it as any change, which is only slower.
       */
      readonly usageOnly?: true;
    }
  | {
      /**
       * Stored subscriptions of these Stripe customers changed (a webhook, a
       * repair): replicas that keep figures over subscriptions re-read them.
       * `origin` names the sender, which applied the change already.
       */
      readonly kind: 'subscriptions';
      readonly projectId: string;
      readonly stripeCustomerIds: readonly string[];
      readonly origin: string;
    }
  | {
      /** A reconciliation run finished: figures over the project's subscriptions are rebuilt. */
      readonly kind: 'subscriptions_reconciled';
      readonly projectId: string;
      readonly origin: string;
    };

export type InvalidationHandler = (message: InvalidationMessage) => void;

const channel = 'billing:invalidate';

export class InvalidationBus {
  private readonly handlers = new Set<InvalidationHandler>();

  constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    this.subscriber.on('message', (from: string, payload: string) => {
      if (from === channel) this.dispatch(payload);
    });
    // Not awaited past a short wait: a replica must start even while Redis is
    // down; ioredis subscribes once it connects.
    this.subscriber.subscribe(channel).catch((err: unknown) => {
      this.logger.warn('invalidation bus: subscribe failed, will retry on reconnect', {
        error: err,
      });
    });
  }

  /**
   * After the subscriber reconnects, messages sent meanwhile are lost: those
   * who hold state derived from them (open streams) resynchronise.
   */
  onReconnect(handler: () => void): void {
    let connectedBefore = this.subscriber.status === 'ready';
    this.subscriber.on('ready', () => {
      if (connectedBefore) handler();
      connectedBefore = true;
    });
  }

  onMessage(handler: InvalidationHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** Evicts locally at once, then tells the other replicas. */
  async publish(message: InvalidationMessage): Promise<void> {
    this.deliver(message);
    try {
      await this.publisher.publish(channel, JSON.stringify(message));
    } catch (err) {
      this.logger.warn('invalidation bus: publish failed; other replicas rely on their TTL', {
        error: err,
      });
    }
  }

  /**
   * This replica's handlers only, nothing published: for a change the other
   * replicas learn of later, coalesced (usage), while this one evicts at once.
   */
  deliverLocally(message: InvalidationMessage): void {
    this.deliver(message);
  }

  private dispatch(payload: string): void {
    const message = parseMessage(payload);
    if (message === undefined) {
      this.logger.warn('invalidation bus: ignored a malformed message');
      return;
    }
    this.deliver(message);
  }

  private deliver(message: InvalidationMessage): void {
    for (const handler of this.handlers) handler(message);
  }
}

function parseMessage(payload: string): InvalidationMessage | undefined {
  try {
    const value: unknown = JSON.parse(payload);
    if (typeof value !== 'object' || value === null) return undefined;
    const record = value as Record<string, unknown>;
    if (record.kind === 'api_key' && typeof record.secretHash === 'string') {
      return { kind: 'api_key', secretHash: record.secretHash };
    }
    if (record.kind === 'project' && typeof record.projectId === 'string') {
      return { kind: 'project', projectId: record.projectId };
    }
    if (record.kind === 'webhook_endpoints' && typeof record.projectId === 'string') {
      return { kind: 'webhook_endpoints', projectId: record.projectId };
    }
    if (
      record.kind === 'entitlements' &&
      typeof record.projectId === 'string' &&
      typeof record.customerId === 'string'
    ) {
      const projectId = record.projectId;
      const customerId = record.customerId;
      return record.usageOnly === true
        ? { kind: 'entitlements', projectId, customerId, usageOnly: true }
        : { kind: 'entitlements', projectId, customerId };
    }
    return parseSubscriptionsMessage(record);
  } catch {
    return undefined;
  }
}

function parseSubscriptionsMessage(
  record: Record<string, unknown>,
): InvalidationMessage | undefined {
  const { kind, projectId, origin, stripeCustomerIds } = record;
  if (typeof projectId !== 'string' || typeof origin !== 'string') return undefined;
  if (kind === 'subscriptions_reconciled') return { kind, projectId, origin };
  if (kind !== 'subscriptions' || !Array.isArray(stripeCustomerIds)) return undefined;
  const ids = stripeCustomerIds.filter((id): id is string => typeof id === 'string');
  return { kind, projectId, stripeCustomerIds: ids, origin };
}
