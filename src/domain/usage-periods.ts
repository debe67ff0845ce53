/**
 * Which period a usage of a metered feature belongs to. Pure, UTC.
 *
 * A metered feature resets with the subscription item's billing period, or
 * on its own interval (day, week, month, year) anchored at the start of the
 * item's period, so a monthly reset on a yearly plan runs from the plan's
 * anniversary; month arithmetic clamps to the month's end (Jan 31 + 1 month
 * is Feb 28/29).
 */

import type { ResetIntervalName } from './catalog.js';

type ResetInterval = ResetIntervalName;

/** [start, end): usage at `end` belongs to the next period. */
export interface UsagePeriod {
  readonly start: Date;
  readonly end: Date;
}

const dayMs = 24 * 3600 * 1000;

/** `anchor` moved by `count` intervals (negative: back); months clamp to the month's end. */
export function addIntervals(
  anchor: Date,
  interval: Exclude<ResetInterval, 'billing_period'>,
  count: number,
): Date {
  switch (interval) {
    case 'day':
      return new Date(anchor.getTime() + count * dayMs);
    case 'week':
      return new Date(anchor.getTime() + count * 7 * dayMs);
    case 'month':
      return addMonths(anchor, count);
    case 'year':
      return addMonths(anchor, count * 12);
  }
}

function addMonths(anchor: Date, months: number): Date {
  const monthIndex = anchor.getUTCFullYear() * 12 + anchor.getUTCMonth() + months;
  const year = Math.floor(monthIndex / 12);
  const month = monthIndex - year * 12;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return new Date(
    Date.UTC(
      year,
      month,
      Math.min(anchor.getUTCDate(), lastDay),
      anchor.getUTCHours(),
      anchor.getUTCMinutes(),
      anchor.getUTCSeconds(),
      anchor.getUTCMilliseconds(),
    ),
  );
}

/** The interval period around `at`, counted from `anchor` (also before it). */
export function intervalPeriodAt(
  anchor: Date,
  interval: Exclude<ResetInterval, 'billing_period'>,
  at: Date,
): UsagePeriod {
  let count = estimatedCount(anchor, interval, at);
  // The estimate is off by at most one either way (month lengths, clamping).
  while (addIntervals(anchor, interval, count).getTime() > at.getTime()) count--;
  while (addIntervals(anchor, interval, count + 1).getTime() <= at.getTime()) count++;
  return {
    start: addIntervals(anchor, interval, count),
    end: addIntervals(anchor, interval, count + 1),
  };
}

function estimatedCount(
  anchor: Date,
  interval: Exclude<ResetInterval, 'billing_period'>,
  at: Date,
): number {
  const elapsed = at.getTime() - anchor.getTime();
  if (interval === 'day') return Math.floor(elapsed / dayMs);
  if (interval === 'week') return Math.floor(elapsed / (7 * dayMs));
  const months =
    (at.getUTCFullYear() - anchor.getUTCFullYear()) * 12 + at.getUTCMonth() - anchor.getUTCMonth();
  return interval === 'month' ? months : Math.floor(months / 12);
}

/**
 * The period of a usage at `at`. `billingPeriod` is the item's current
 * period (null: no subscription gives one, then calendar months count).
 * Usage before the current billing period counts in the previous one, whose
 * end is the current start (its start is estimated as one period length
 * back: only its end keys the ledger). Usage after the current end, before
 * the renewal webhook arrived, counts in the current period.
 */
export function usagePeriodAt(
  reset: ResetInterval,
  billingPeriod: UsagePeriod | null,
  at: Date,
): UsagePeriod {
  if (billingPeriod === null) {
    return intervalPeriodAt(new Date(0), reset === 'billing_period' ? 'month' : reset, at);
  }
  if (reset !== 'billing_period') return intervalPeriodAt(billingPeriod.start, reset, at);
  if (at.getTime() >= billingPeriod.start.getTime()) return billingPeriod;
  const length = billingPeriod.end.getTime() - billingPeriod.start.getTime();
  return { start: new Date(billingPeriod.start.getTime() - length), end: billingPeriod.start };
}
