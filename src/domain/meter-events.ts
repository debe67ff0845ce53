/**
 * The rules of reporting usage to Stripe meters. Pure.
 *
 * A usage is reported when its feature is metered and names a Stripe meter
 * event in the catalog. A failed send is tried again after a backoff that
 * doubles per failure up to a cap; an event never stops being retried (it
 * is usage to bill), but after `failingAfter` failures it counts as failing,
 * which operators watch (docs/operations.md, "Stripe meters").
 */
import type { Catalog } from './catalog.js';

/** The Stripe meter event name usage of `feature` is reported under; null: not reported. */
export function meterEventNameOf(catalog: Catalog, feature: string): string | null {
  for (const features of catalog.values()) {
    for (const entry of features) {
      if (entry.feature !== feature || entry.kind !== 'metered') continue;
      const name = entry.metered?.stripeMeterEventName ?? null;
      // SetCatalog keeps one meter per feature across prices: the first one says it.
      if (name !== null) return name;
    }
  }
  return null;
}

export interface MeterRetryPolicy {
  /** The wait after the first failure; each further failure doubles it. */
  readonly baseMs: number;
  /** The longest wait between two attempts. */
  readonly maxMs: number;
  /** Failures after which a pending event counts as failing. */
  readonly failingAfter: number;
}

/** When an event that has now failed `attempts` times (1 or more) is tried again. */
export function nextMeterAttemptAt(now: Date, attempts: number, policy: MeterRetryPolicy): Date {
  const doublings = Math.max(0, Math.min(attempts - 1, 30));
  const waitMs = Math.min(policy.baseMs * 2 ** doublings, policy.maxMs);
  return new Date(now.getTime() + waitMs);
}

/** Still retried, but watched: it failed `failingAfter` times or more. */
export function isFailingMeterEvent(attempts: number, policy: MeterRetryPolicy): boolean {
  return attempts >= policy.failingAfter;
}

/** Stripe's meter event value: an integer, written as a string. */
export function meterEventValue(amount: number): string {
  if (!Number.isSafeInteger(amount)) throw new RangeError(`not a whole amount: ${amount}`);
  return String(amount);
}

/** Stripe's meter event timestamp: whole seconds since the epoch. */
export function meterEventTimestamp(occurredAt: Date): number {
  return Math.floor(occurredAt.getTime() / 1000);
}
