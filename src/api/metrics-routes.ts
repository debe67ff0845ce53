/**
 * MetricsService handlers: validate the window, answer from
 * ProjectMetricsService for the caller's own project. The admin scope is
 * enforced by the auth interceptor.
 */
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { ServiceImpl } from '@connectrpc/connect';
import {
  GetProjectMetricsResponseSchema,
  type MetricsService,
  MonthlyRevenueSchema,
  SubscriptionStatusCountSchema,
} from '../../gen/billing/v1/metrics_pb.js';
import type { MetricsWindow } from '../domain/mrr.js';
import type { ProjectMetricsService } from '../services/project-metrics-service.js';
import { requirePrincipal } from './auth.js';
import { invalid, optionalTimestamp } from './validate.js';

/** What the handler calls (ProjectMetricsService satisfies it; tests pass a fake). */
export type ProjectMetricsReader = Pick<ProjectMetricsService, 'projectMetrics'>;

export interface MetricsRoutesDeps {
  readonly projectMetrics: ProjectMetricsReader;
  readonly now?: () => Date;
}

const dayMs = 24 * 3600 * 1000;
/** The window when the request leaves it out: the last 30 days up to now. */
const defaultWindowMs = 30 * dayMs;
/** Longer windows are refused: a year and a bit covers year-over-year questions. */
const maxWindowMs = 400 * dayMs;

export function metricsHandlers(deps: MetricsRoutesDeps): ServiceImpl<typeof MetricsService> {
  return {
    async getProjectMetrics(req, context) {
      const principal = requirePrincipal(context);
      const window = metricsWindow(
        optionalTimestamp('window_start', req.windowStart),
        optionalTimestamp('window_end', req.windowEnd),
        (deps.now ?? (() => new Date()))(),
      );
      const metrics = await deps.projectMetrics.projectMetrics(principal.projectId, window);
      return create(GetProjectMetricsResponseSchema, {
        subscriptionsByStatus: metrics.subscriptionsByStatus.map((entry) =>
          create(SubscriptionStatusCountSchema, {
            status: entry.status,
            count: BigInt(entry.count),
          }),
        ),
        activeCustomers: BigInt(metrics.activeCustomers),
        mrr: metrics.mrr.map((entry) =>
          create(MonthlyRevenueSchema, {
            currency: entry.currency,
            amountMinor: entry.amountMinor,
          }),
        ),
        newSubscriptions: BigInt(metrics.newSubscriptions),
        churnedSubscriptions: BigInt(metrics.churnedSubscriptions),
        windowStart: timestampFromDate(window.start),
        windowEnd: timestampFromDate(window.end),
      });
    },
  };
}

/**
 * The window from the request: a missing end is now, a missing start is 30
 * days before the end. The end must come after the start, at most 400 days.
 */
function metricsWindow(start: Date | undefined, end: Date | undefined, now: Date): MetricsWindow {
  const windowEnd = end ?? now;
  const windowStart = start ?? new Date(windowEnd.getTime() - defaultWindowMs);
  if (windowEnd.getTime() <= windowStart.getTime()) {
    throw invalid('window_end', 'must be after window_start');
  }
  if (windowEnd.getTime() - windowStart.getTime() > maxWindowMs) {
    throw invalid('window_end', 'must be at most 400 days after window_start');
  }
  return { start: windowStart, end: windowEnd };
}
