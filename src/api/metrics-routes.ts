/**
 * MetricsService handlers: validate the window, answer from
 * ProjectMetricsService for the caller's own project. The admin scope is
 * enforced by the auth interceptor.
 */
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { ServiceImpl } from '@connectrpc/connect';
import {
  type DailyMetrics as DailyMetricsMessage,
  DailyMetricsSchema,
  DailySnapshotSchema,
  GetProjectMetricsResponseSchema,
  ListDailyMetricsResponseSchema,
  type MetricsService,
  type MonthlyRevenue,
  MonthlyRevenueSchema,
  type SubscriptionStatusCount,
  SubscriptionStatusCountSchema,
} from '../../gen/billing/v1/metrics_pb.js';
import { addDays, type DailyMetrics, dayOf, daySpan, startOfDay } from '../domain/daily-metrics.js';
import type { CurrencyAmount, MetricsWindow, StatusCount } from '../domain/mrr.js';
import type { DailyMetricsService } from '../services/daily-metrics-service.js';
import type { ProjectMetricsService } from '../services/project-metrics-service.js';
import { requirePrincipal } from './auth.js';
import { invalid, optionalTimestamp } from './validate.js';

/** What the handlers call (the services satisfy these; tests pass fakes). */
export type ProjectMetricsReader = Pick<ProjectMetricsService, 'projectMetrics'>;
export type DailyMetricsReader = Pick<DailyMetricsService, 'dailyMetrics'>;

export interface MetricsRoutesDeps {
  readonly projectMetrics: ProjectMetricsReader;
  readonly dailyMetrics: DailyMetricsReader;
  readonly now?: () => Date;
}

const dayMs = 24 * 3600 * 1000;
/** The window when the request leaves it out: the last 30 days up to now. */
const defaultWindowMs = 30 * dayMs;
/** Longer windows are refused: a year and a bit covers year-over-year questions. */
const maxWindowMs = 400 * dayMs;

/** The range when the request leaves it out: the 30 days up to today. */
const defaultDays = 30;
const maxDays = 400;

export function metricsHandlers(deps: MetricsRoutesDeps): ServiceImpl<typeof MetricsService> {
  const now = deps.now ?? (() => new Date());
  return {
    async getProjectMetrics(req, context) {
      const principal = requirePrincipal(context);
      const window = metricsWindow(
        optionalTimestamp('window_start', req.windowStart),
        optionalTimestamp('window_end', req.windowEnd),
        now(),
      );
      const metrics = await deps.projectMetrics.projectMetrics(principal.projectId, window);
      return create(GetProjectMetricsResponseSchema, {
        subscriptionsByStatus: statusMessages(metrics.subscriptionsByStatus),
        activeCustomers: BigInt(metrics.activeCustomers),
        mrr: mrrMessages(metrics.mrr),
        newSubscriptions: BigInt(metrics.newSubscriptions),
        churnedSubscriptions: BigInt(metrics.churnedSubscriptions),
        windowStart: timestampFromDate(window.start),
        windowEnd: timestampFromDate(window.end),
      });
    },

    async listDailyMetrics(req, context) {
      const principal = requirePrincipal(context);
      const { first, last } = dayRange(req.firstDay, req.lastDay, dayOf(now()));
      const days = await deps.dailyMetrics.dailyMetrics(principal.projectId, first, last);
      return create(ListDailyMetricsResponseSchema, { days: days.map(dailyMetricsMessage) });
    },
  };
}

const statusMessages = (counts: readonly StatusCount[]): SubscriptionStatusCount[] =>
  counts.map((entry) =>
    create(SubscriptionStatusCountSchema, { status: entry.status, count: BigInt(entry.count) }),
  );

const mrrMessages = (amounts: readonly CurrencyAmount[]): MonthlyRevenue[] =>
  amounts.map((entry) =>
    create(MonthlyRevenueSchema, { currency: entry.currency, amountMinor: entry.amountMinor }),
  );

function dailyMetricsMessage(day: DailyMetrics): DailyMetricsMessage {
  const { snapshot } = day;
  return create(DailyMetricsSchema, {
    day: day.day,
    snapshot: snapshot
      ? create(DailySnapshotSchema, {
          takenAt: timestampFromDate(snapshot.takenAt),
          subscriptionsByStatus: statusMessages(snapshot.subscriptionsByStatus),
          activeCustomers: BigInt(snapshot.activeCustomers),
          mrr: mrrMessages(snapshot.mrr),
        })
      : undefined,
    newSubscriptions: BigInt(day.newSubscriptions),
    churnedSubscriptions: BigInt(day.churnedSubscriptions),
  });
}

/**
 * The days asked for: a missing last day is today (UTC, business time), a
 * missing first day 29 days before the last; at most 400 days, none after today.
 */
function dayRange(firstDay: string, lastDay: string, today: string) {
  const last = lastDay === '' ? today : requireDay('last_day', lastDay);
  if (last > today) throw invalid('last_day', `must not be after today (${today}, UTC)`);
  const first =
    firstDay === '' ? addDays(last, 1 - defaultDays) : requireDay('first_day', firstDay);
  if (first > last) throw invalid('first_day', 'must not be after last_day');
  if (daySpan(first, last) > maxDays)
    throw invalid('first_day', `the range must be at most ${maxDays} days`);
  return { first, last };
}

function requireDay(field: string, value: string): string {
  if (startOfDay(value) === undefined) throw invalid(field, 'must be a date as YYYY-MM-DD');
  return value;
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
