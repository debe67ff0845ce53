/**
 * The entitlement engine's inputs of recently used customers (catalog,
 * subscriptions, purchases, grants, credit lots), in process memory. TrackUsage
 * and the recompute after a usage change need them on every call, and
 * reading them costs several MongoDB finds; usage never changes them. So
 * they are kept like entitlement sets, but only changes that are not
 * usage-only evict them: a webhook, grant or catalog change arrives as an
 * `entitlements` or `project` message on every replica.
 */
import type { EntitlementInputs } from '../domain/entitlements.js';
import { CustomerMemo, memoKey } from './customer-memo.js';
import type { InvalidationBus } from './invalidation-bus.js';

type StoredInputs = Omit<EntitlementInputs, 'now'>;

export class MemoryInputsCache {
  private readonly memo: CustomerMemo<StoredInputs>;

  constructor(bus: Pick<InvalidationBus, 'onMessage'>, ttlMs: number, maxEntries: number) {
    this.memo = new CustomerMemo(bus, {
      ttlMs,
      maxEntries,
      evictionOf: (message) => {
        if (message.kind === 'entitlements' && message.usageOnly !== true) {
          return { customer: memoKey(message.projectId, message.customerId) };
        }
        return message.kind === 'project' ? 'all' : 'none';
      },
    });
  }

  /** The inputs as of `now`, if held and not older than the TTL. */
  get(projectId: string, customerId: string, now: Date): EntitlementInputs | undefined {
    const stored = this.memo.get(projectId, customerId, now.getTime());
    return stored && { ...stored, now };
  }

  /** Take before reading the sources; hand back to `set`. */
  readToken(): number {
    return this.memo.readToken();
  }

  set(projectId: string, customerId: string, inputs: EntitlementInputs, token: number): void {
    const { now, ...stored } = inputs;
    this.memo.set(projectId, customerId, stored, now.getTime(), token);
  }
}
