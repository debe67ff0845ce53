/**
 * Per replica, per project, the business figures kept current as
 * subscriptions change (domain/project-figures.ts), so GetProjectMetrics and
 * the Prometheus gauges never load a whole project (docs/decisions.md,
 * "Business metrics").
 *
 * - Built by one paged scan the first time a project is asked for (memory:
 *   one batch of versions plus a contribution per subscription).
 * - Kept current from the change notifications: the replica that stores a
 *   change calls `subscriptionsChanged` (awaited, so its own next answer
 *   shows it) and broadcasts it; every other replica re-reads only the
 *   named Stripe customers' subscriptions (an indexed read) and replaces
 *   their contributions. Reads of one customer may finish out of order: only
 *   the read started last is applied.
 * - Drift is bounded: a failed re-read drops the project (rebuilt when next
 *   asked); a Redis reconnect drops every project (messages may have been
 *   lost meanwhile); a finished reconciliation run, and age, rebuild a
 *   project in the background while the old figures keep answering.
 */
import { randomUUID } from 'node:crypto';
import type { InvalidationBus, InvalidationMessage } from '../cache/invalidation-bus.js';
import type { MetricsSubscription } from '../domain/mrr.js';
import {
  contributionOf,
  type MetricsContribution,
  ProjectFigures,
} from '../domain/project-figures.js';
import { isNewerVersion, type VersionStamp } from '../domain/subscription-versions.js';
import type { Logger } from '../logger.js';
import {
  type FigureVersion,
  type SubscriptionStore,
  versionStamp,
} from '../store/subscription-store.js';

/** What the cache reads (the SubscriptionStore; tests pass fakes). */
export type FiguresSource = Pick<
  SubscriptionStore,
  'forEachVersionOfProject' | 'currentByStripeCustomer'
>;

export interface ProjectFiguresCacheOptions {
  readonly source: FiguresSource;
  readonly bus: Pick<InvalidationBus, 'onMessage' | 'onReconnect' | 'publish'>;
  readonly logger: Logger;
  /** Figures older than this are rebuilt in the background when next asked for. */
  readonly maxAgeMs: number;
  readonly now?: () => number;
}

/** Versions read per batch by a build. */
const scanBatchSize = 1_000;

interface ProjectEntry {
  readonly figures: Promise<ProjectFigures>;
  /** Set once built; until then, changes wait in `pending`. */
  ready: ProjectFigures | undefined;
  readonly pending: Set<string>;
  /** Per Stripe customer, the number of the newest re-read in flight. */
  readonly latestRead: Map<string, number>;
  readonly builtAt: number;
}

export class ProjectFiguresCache {
  private readonly entries = new Map<string, ProjectEntry>();
  /** A build under way that replaces the entry in `entries` once done. */
  private readonly rebuilding = new Map<string, ProjectEntry>();
  private readonly origin = randomUUID();
  private readonly now: () => number;
  private reads = 0;

  constructor(private readonly options: ProjectFiguresCacheOptions) {
    this.now = options.now ?? Date.now;
    options.bus.onMessage((message) => this.onMessage(message));
    options.bus.onReconnect(() => {
      this.entries.clear();
      this.rebuilding.clear();
    });
  }

  /** The project's figures, built on first use. */
  async figuresOf(projectId: string): Promise<ProjectFigures> {
    const entry = this.entries.get(projectId);
    if (entry === undefined) return this.start(projectId, 'replace').figures;
    if (entry.ready !== undefined && this.now() - entry.builtAt > this.options.maxAgeMs)
      this.rebuildInBackground(projectId);
    return entry.figures;
  }

  /**
   * The subscriptions of these Stripe customers changed here: applied before
   * this resolves (never rejects), then broadcast to the other replicas.
   */
  async subscriptionsChanged(projectId: string, stripeCustomerIds: Iterable<string>) {
    const ids = [...new Set(stripeCustomerIds)];
    if (ids.length === 0) return;
    await this.apply(projectId, ids);
    await this.options.bus.publish({
      kind: 'subscriptions',
      projectId,
      stripeCustomerIds: ids,
      origin: this.origin,
    });
  }

  /** A reconciliation run of the project finished: every replica rebuilds its figures. */
  async subscriptionsReconciled(projectId: string): Promise<void> {
    this.rebuildInBackground(projectId);
    await this.options.bus.publish({
      kind: 'subscriptions_reconciled',
      projectId,
      origin: this.origin,
    });
  }

  private onMessage(message: InvalidationMessage): void {
    if (message.kind === 'subscriptions' && message.origin !== this.origin)
      void this.apply(message.projectId, message.stripeCustomerIds);
    if (message.kind === 'subscriptions_reconciled' && message.origin !== this.origin)
      this.rebuildInBackground(message.projectId);
  }

  private async apply(projectId: string, stripeCustomerIds: readonly string[]): Promise<void> {
    const entries = [this.entries.get(projectId), this.rebuilding.get(projectId)];
    const reads: Promise<void>[] = [];
    for (const entry of entries) {
      if (entry === undefined) continue;
      for (const id of stripeCustomerIds) {
        if (entry.ready === undefined) entry.pending.add(id);
        else reads.push(this.reread(projectId, entry, entry.ready, id));
      }
    }
    await Promise.all(reads);
  }

  private async reread(
    projectId: string,
    entry: ProjectEntry,
    figures: ProjectFigures,
    stripeCustomerId: string,
  ): Promise<void> {
    this.reads += 1;
    const read = this.reads;
    entry.latestRead.set(stripeCustomerId, read);
    try {
      const current = await this.options.source.currentByStripeCustomer(
        projectId,
        stripeCustomerId,
      );
      // A read started after this one knows at least as much: it applies instead.
      if (entry.latestRead.get(stripeCustomerId) !== read) return;
      entry.latestRead.delete(stripeCustomerId);
      figures.replaceCustomer(
        stripeCustomerId,
        current.map(({ doc }) => contributionOf(metricsSubscription(doc))),
      );
    } catch (error) {
      this.drop(projectId, entry);
      this.options.logger.warn('project figures: re-read failed; rebuilt when next asked', {
        project_id: projectId,
        error,
      });
    }
  }

  private rebuildInBackground(projectId: string): void {
    if (!this.entries.has(projectId) || this.rebuilding.has(projectId)) return;
    this.start(projectId, 'background').figures.catch((error: unknown) =>
      this.options.logger.warn('project figures: rebuild failed', { project_id: projectId, error }),
    );
  }

  /** Starts a build; `replace` serves it at once, `background` once it is done. */
  private start(projectId: string, mode: 'replace' | 'background'): ProjectEntry {
    const entry: ProjectEntry = {
      figures: Promise.resolve().then(() => this.build(projectId, entry)),
      ready: undefined,
      pending: new Set(),
      latestRead: new Map(),
      builtAt: this.now(),
    };
    (mode === 'replace' ? this.entries : this.rebuilding).set(projectId, entry);
    return entry;
  }

  private async build(projectId: string, entry: ProjectEntry): Promise<ProjectFigures> {
    try {
      const newest = new Map<string, { stamp: VersionStamp; contribution: MetricsContribution }>();
      await this.options.source.forEachVersionOfProject(projectId, scanBatchSize, (versions) => {
        for (const doc of versions) {
          const stamp = versionStamp(doc);
          const seen = newest.get(doc.stripe_subscription_id);
          if (seen === undefined || isNewerVersion(stamp, seen.stamp))
            newest.set(doc.stripe_subscription_id, {
              stamp,
              contribution: contributionOf(metricsSubscription(doc)),
            });
        }
      });
      const figures = ProjectFigures.of([...newest.values()].map((n) => n.contribution));
      entry.ready = figures;
      // Changes told while the scan ran may have been read before they were stored.
      const pending = [...entry.pending];
      entry.pending.clear();
      await Promise.all(pending.map((id) => this.reread(projectId, entry, figures, id)));
      if (this.rebuilding.get(projectId) === entry) {
        this.rebuilding.delete(projectId);
        this.entries.set(projectId, entry);
      }
      return figures;
    } catch (error) {
      this.drop(projectId, entry);
      throw error;
    }
  }

  private drop(projectId: string, entry: ProjectEntry): void {
    if (this.entries.get(projectId) === entry) this.entries.delete(projectId);
    if (this.rebuilding.get(projectId) === entry) this.rebuilding.delete(projectId);
  }
}

/** A stored version as the figures read it. */
export function metricsSubscription(doc: FigureVersion): MetricsSubscription {
  return {
    id: doc.stripe_subscription_id,
    customerId: doc.stripe_customer_id,
    status: doc.status,
    items: doc.items.map((item) => ({
      unitAmount: item.unit_amount,
      currency: item.currency,
      interval: item.interval,
      intervalCount: item.interval_count,
      quantity: item.quantity,
    })),
    created: doc.created,
    endedAt: doc.ended_at,
    canceledAt: doc.canceled_at,
  };
}
