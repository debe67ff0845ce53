/**
 * The business figures over time, one entry per UTC calendar day: the
 * day's snapshot (what GetProjectMetrics answered when a job last looked
 * that day) and the subscriptions created and ended that day. Days are
 * `YYYY-MM-DD` in UTC, so every replica and every operator's time zone
 * agree on where a day ends.
 */
import type { CurrencyAmount, MetricsWindow, StatusCount } from './mrr.js';

export const dayMs = 24 * 3600_000;

/** The figures of one snapshot. */
export interface DailySnapshotFigures {
  readonly takenAt: Date;
  readonly subscriptionsByStatus: readonly StatusCount[];
  readonly activeCustomers: number;
  readonly mrr: readonly CurrencyAmount[];
}

export interface DailyMetrics {
  readonly day: string;
  /** Undefined when no snapshot was taken that day. */
  readonly snapshot: DailySnapshotFigures | undefined;
  readonly newSubscriptions: number;
  readonly churnedSubscriptions: number;
}

const dayPattern = /^\d{4}-\d{2}-\d{2}$/;

/** The UTC day an instant falls on. */
export function dayOf(at: Date): string {
  return at.toISOString().slice(0, 10);
}

/** The start of a `YYYY-MM-DD` day; undefined unless it is a real date written canonically. */
export function startOfDay(day: string): Date | undefined {
  if (!dayPattern.test(day)) return undefined;
  const start = new Date(`${day}T00:00:00.000Z`);
  // Date rolls 2026-02-30 over to March: only a date that reads back the same is one.
  return Number.isNaN(start.getTime()) || dayOf(start) !== day ? undefined : start;
}

/** The day `days` days after `day` (before, when negative). */
export function addDays(day: string, days: number): string {
  const start = startOfDay(day);
  if (start === undefined) throw new Error(`not a day: ${day}`);
  return dayOf(new Date(start.getTime() + days * dayMs));
}

/** Every day from `first` to `last`, both included, oldest first. */
export function daysFrom(first: string, last: string): string[] {
  const days: string[] = [];
  for (let day = first; day <= last; day = addDays(day, 1)) days.push(day);
  return days;
}

/** How many days `first` to `last` spans, both included (0 when `last` comes first). */
export function daySpan(first: string, last: string): number {
  const [start, end] = [startOfDay(first), startOfDay(last)];
  if (start === undefined || end === undefined) throw new Error(`not days: ${first}, ${last}`);
  return Math.max(0, Math.round((end.getTime() - start.getTime()) / dayMs) + 1);
}

/**
 * The window of a day for new and churned subscriptions: the whole day once
 * it is over, up to `now` while it runs; undefined for a day still to come.
 */
export function dayWindow(day: string, now: Date): MetricsWindow | undefined {
  const start = startOfDay(day);
  if (start === undefined || start.getTime() >= now.getTime()) return undefined;
  const end = new Date(Math.min(start.getTime() + dayMs, now.getTime()));
  return { start, end };
}
