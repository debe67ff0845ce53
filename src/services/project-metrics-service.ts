/**
 * A project's business figures: the current version of each of its
 * subscriptions, read from MongoDB and handed to the pure computation in
 * `domain/mrr.ts`. The figures are computed in the process, not with an
 * aggregation pipeline: FerretDB's `$group` knows only `$sum` and `$count`,
 * and the newest version per subscription has to be picked first anyway.
 */
import {
  type CurrencyAmount,
  computeProjectMetrics,
  type MetricsSubscription,
  type MetricsWindow,
  type ProjectMetrics,
} from '../domain/mrr.js';
import type { SubscriptionDoc } from '../store/documents.js';
import type { SubscriptionStore } from '../store/subscription-store.js';

/** The figures the Prometheus business gauges show for one project. */
export interface ProjectBusinessFigures {
  readonly projectId: string;
  readonly activeSubscriptions: number;
  readonly mrr: readonly CurrencyAmount[];
}

export class ProjectMetricsService {
  constructor(private readonly subscriptions: SubscriptionStore) {}

  async projectMetrics(projectId: string, window: MetricsWindow): Promise<ProjectMetrics> {
    const current = await this.subscriptions.currentByProject(projectId);
    return computeProjectMetrics(current.map(metricsSubscription), window);
  }

  /** Active subscriptions and MRR of every project that has subscriptions, one project at a time. */
  async businessFigures(): Promise<ProjectBusinessFigures[]> {
    const figures: ProjectBusinessFigures[] = [];
    // The window does not matter for these figures; any will do.
    const window: MetricsWindow = { start: new Date(0), end: new Date(0) };
    for (const projectId of await this.subscriptions.projectIds()) {
      const metrics = await this.projectMetrics(projectId, window);
      figures.push({
        projectId,
        activeSubscriptions: metrics.activeSubscriptions,
        mrr: metrics.mrr,
      });
    }
    return figures;
  }
}

function metricsSubscription(doc: SubscriptionDoc): MetricsSubscription {
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
