/**
 * Answers "which features does this customer have?": from process memory,
 * else Redis, else computed from MongoDB by the pure engine. Redis being
 * down only costs speed: every path ends in a correct answer.
 */

import type { MemoryEntitlementCache, RedisEntitlementCache } from '../cache/entitlement-cache.js';
import type { MemoryInputsCache } from '../cache/memory-inputs-cache.js';
import { hasMeteredFeature } from '../domain/catalog.js';
import { packLots } from '../domain/credits.js';
import {
  computeEntitlements,
  type EntitlementInputs,
  type EntitlementSet,
} from '../domain/entitlements.js';
import type { Logger } from '../logger.js';
import type { CreditGrantStore } from '../store/credit-grant-store.js';
import type { CustomerStore } from '../store/customer-store.js';
import type { GrantStore } from '../store/grant-store.js';
import type { PurchaseStore } from '../store/purchase-store.js';
import type { SubscriptionStore } from '../store/subscription-store.js';
import {
  creditGrantFacts,
  grantFacts,
  packPurchaseFacts,
  purchaseFacts,
  subscriptionFacts,
} from './entitlement-facts.js';
import { type UsageTotals, withMeteredStandings } from './metered-standings.js';
import type { ProjectCache } from './project-cache.js';

export interface EntitlementLookupServiceDeps {
  readonly projects: ProjectCache;
  readonly customers: CustomerStore;
  readonly subscriptions: SubscriptionStore;
  readonly purchases: PurchaseStore;
  readonly grants: GrantStore;
  readonly creditGrants: Pick<CreditGrantStore, 'listForCustomer'>;
  readonly redisCache: RedisEntitlementCache;
  readonly memoryCache: MemoryEntitlementCache;
  /** The engine's inputs of recent customers, kept across usage-only changes. */
  readonly inputsCache: MemoryInputsCache;
  readonly logger: Logger;
  /** The usage ledger: metered features answer usage and balance (absent: they do not). */
  readonly usage?: UsageTotals;
  readonly now?: () => Date;
  /** Observes where answers came from (Prometheus cache hits and misses). */
  readonly onLookup?: (outcome: CacheOutcome) => void;
}

export type CacheOutcome = 'memory' | 'redis' | 'miss';

export class EntitlementLookupService {
  private readonly now: () => Date;
  private readonly inFlight = new Map<string, { token: number; set: Promise<EntitlementSet> }>();
  private readonly onLookup: (outcome: CacheOutcome) => void;

  constructor(private readonly deps: EntitlementLookupServiceDeps) {
    this.now = deps.now ?? (() => new Date());
    this.onLookup = deps.onLookup ?? (() => {});
  }

  async list(projectId: string, customerId: string): Promise<EntitlementSet> {
    const now = this.now();
    const fromMemory = this.deps.memoryCache.get(projectId, customerId, now.getTime());
    if (fromMemory) {
      this.onLookup('memory');
      return fromMemory;
    }
    // Many streams of one customer wake up together after a change: one
    // computation serves them all, unless a change came after it started.
    const token = this.deps.memoryCache.readToken();
    const flightKey = `${projectId}\u0000${customerId}`;
    const inFlight = this.inFlight.get(flightKey);
    if (inFlight && inFlight.token === token) return inFlight.set;
    const set = this.fromRedisOrCompute(projectId, customerId, now).then((computed) => {
      this.deps.memoryCache.set(projectId, customerId, computed, now.getTime(), token);
      return computed;
    });
    const flight = { token, set };
    this.inFlight.set(flightKey, flight);
    try {
      return await set;
    } finally {
      if (this.inFlight.get(flightKey) === flight) this.inFlight.delete(flightKey);
    }
  }

  /**
   * As `list`, but never a set older than `version`: the change feed knows
   * which change it sends, and this replica's memory may still hold the set
   * from before it (its eviction comes with the broadcast, which can land
   * after the feed entry is read). Such a set is read again through Redis,
   * whose version counts the change; it is not kept (the broadcast evicts).
   */
  async listAtLeast(
    projectId: string,
    customerId: string,
    version: number,
  ): Promise<EntitlementSet> {
    const set = await this.list(projectId, customerId);
    if ((set.version ?? 0) >= version) return set;
    return this.fromRedisOrCompute(projectId, customerId, this.now());
  }

  private async fromRedisOrCompute(
    projectId: string,
    customerId: string,
    now: Date,
  ): Promise<EntitlementSet> {
    // The project's version keys the Redis entry: a catalog change retires old entries.
    const project = await this.deps.projects.get(projectId);
    const projectVersion = project?.updated_at.getTime() ?? 0;
    let generation: string | undefined;
    let version = 0;
    try {
      const cached = await this.deps.redisCache.lookup(projectId, projectVersion, customerId);
      if (cached.set && (!cached.set.validUntil || cached.set.validUntil > now)) {
        this.onLookup('redis');
        return cached.set;
      }
      generation = cached.generation;
      version = cached.version;
    } catch (err) {
      this.deps.logger.debug('entitlement cache unavailable, reading MongoDB', { error: err });
    }
    this.onLookup('miss');
    // Inputs are kept only for customers whose usage changes (inputsFor,
    // from TrackUsage): a customer who is only checked costs its set alone.
    const inputs =
      this.deps.inputsCache.get(projectId, customerId, now) ??
      (await this.loadInputs(projectId, customerId, now));
    // Read after the version: the set holds at least every change it counts.
    const computed = await this.computeFrom(inputs, projectId, customerId);
    const set = version > 0 ? { ...computed, version } : computed;
    if (generation !== undefined) {
      // Not awaited: the answer is computed already, and a cold check should
      // not wait a Redis round trip for the benefit of the next one. If the
      // store fails or lands late, the generation decides: at worst the
      // next lookup computes again.
      void this.deps.redisCache
        .store(projectId, projectVersion, customerId, generation, set, now)
        .catch((error: unknown) =>
          this.deps.logger.debug('entitlement cache not updated', { error }),
        );
    }
    return set;
  }

  /** Straight from MongoDB, no cache: also what reconciliation and tests compare against. */
  async compute(
    projectId: string,
    customerId: string,
    now: Date = this.now(),
  ): Promise<EntitlementSet> {
    const inputs = await this.loadInputs(projectId, customerId, now);
    return this.computeFrom(inputs, projectId, customerId);
  }

  /** The set from inputs already loaded (TrackUsage has them): the engine, then the ledger totals. */
  async computeFrom(
    inputs: EntitlementInputs,
    projectId: string,
    customerId: string,
  ): Promise<EntitlementSet> {
    const set = computeEntitlements(inputs);
    if (!this.deps.usage) return set;
    return withMeteredStandings(set, inputs, { projectId, customerId }, this.deps.usage);
  }

  /**
   * The engine's inputs for one customer, from process memory when held
   * (usage does not change them; every other change evicts them on every
   * replica, like the entitlement sets), else from MongoDB.
   */
  async inputsFor(projectId: string, customerId: string, now: Date): Promise<EntitlementInputs> {
    const held = this.deps.inputsCache.get(projectId, customerId, now);
    if (held) return held;
    const token = this.deps.inputsCache.readToken();
    const inputs = await this.loadInputs(projectId, customerId, now);
    this.deps.inputsCache.set(projectId, customerId, inputs, token);
    return inputs;
  }

  /** The engine's inputs for one customer, from MongoDB. */
  async loadInputs(projectId: string, customerId: string, now: Date): Promise<EntitlementInputs> {
    const projectRead = this.deps.projects.get(projectId);
    // Credits count only for metered features (usableCreditLots): a catalog
    // without one needs no read (a cold check then reads twice, not three times).
    const creditRead = projectRead.then((found) =>
      hasMeteredFeature(this.deps.projects.catalogOf(found))
        ? this.deps.creditGrants.listForCustomer(projectId, customerId)
        : [],
    );
    const [project, link, grants, creditGrants] = await Promise.all([
      projectRead,
      this.deps.customers.findByCustomerId(projectId, customerId),
      this.deps.grants.listForCustomer(projectId, customerId),
      creditRead,
    ]);
    const [subscriptions, purchases] = link
      ? await Promise.all([
          this.deps.subscriptions.currentByStripeCustomer(projectId, link.stripe_customer_id),
          this.deps.purchases.listByStripeCustomer(projectId, link.stripe_customer_id),
        ])
      : [[], []];
    const catalog = this.deps.projects.catalogOf(project);
    const packPurchases = purchases.flatMap((p) => packPurchaseFacts(p) ?? []);
    return {
      catalog,
      gracePeriodSeconds: project?.grace_period_seconds ?? 0,
      subscriptions: subscriptions.map(subscriptionFacts),
      purchases: purchases.map(purchaseFacts),
      grants: grants.map(grantFacts),
      credits: [...creditGrants.map(creditGrantFacts), ...packLots(packPurchases, catalog)],
      now,
    };
  }
}
