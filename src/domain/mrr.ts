/**
 * A project's business figures from the current state of its subscriptions:
 * counts by status, active customers, monthly recurring revenue per currency,
 * new and churned subscriptions in a window. Pure: the subscriptions and the
 * window come in as parameters.
 *
 * The rules, where Stripe's own definitions guide them (Billing analytics,
 * "Billing metric definitions"):
 * - **MRR** sums the monthly equivalent of every item of the subscriptions
 *   whose status is `active` or `past_due` (still billed: a failed renewal
 *   is not churn until Stripe cancels it or marks it `unpaid`). `trialing`,
 *   `incomplete`, `unpaid`, `paused` and ended statuses give nothing. A
 *   subscription set to cancel at the period end keeps its status, so it
 *   counts until Stripe ends it.
 * - **Monthly equivalent** of an item: unit_amount * quantity * per-month
 *   factor / interval_count, with month 1, year 1/12, week 52/12, day 365/12.
 *   An item without a unit amount (metered or tiered prices) or with an
 *   unknown interval adds 0 and is counted in `unpricedItems`. Discounts and
 *   taxes are not part of the mirror, so not of MRR.
 * - **Exact arithmetic**: amounts are summed as exact fractions of minor
 *   units (bigint), per currency, and rounded once at the end, half up.
 *   Rounding each item first would drift (three yearly 10.00 plans are
 *   2.50 a month, not 3 * 0.83).
 * - **Active customers**: Stripe customers with at least one `active` or
 *   `trialing` subscription.
 * - **Windows are half-open**, [start, end): adjacent windows never count a
 *   subscription twice. **New**: created within the window, whatever its
 *   status now. **Churned**: ended within the window, the end being
 *   `ended_at`, or `canceled_at` for a canceled subscription that has no
 *   `ended_at`; a mere request to cancel at the period end is not an end.
 *   `incomplete_expired` subscriptions never started, so they never churn.
 */
import { neverStartedStatus } from './subscription-status.js';

export interface MrrItem {
  /** Minor units per unit; null for metered and tiered prices. */
  readonly unitAmount: number | null;
  readonly currency: string;
  /** day, week, month or year; null for a price that does not recur. */
  readonly interval: string | null;
  readonly intervalCount: number;
  readonly quantity: number;
}

export interface MetricsSubscription {
  readonly id: string;
  /** The Stripe customer. */
  readonly customerId: string;
  readonly status: string;
  readonly items: readonly MrrItem[];
  readonly created: Date;
  readonly endedAt: Date | null;
  readonly canceledAt: Date | null;
}

export interface MetricsWindow {
  /** Inclusive. */
  readonly start: Date;
  /** Exclusive. */
  readonly end: Date;
}

export interface StatusCount {
  readonly status: string;
  readonly count: number;
}

export interface CurrencyAmount {
  /** Lower case, as Stripe writes it. */
  readonly currency: string;
  /** Minor units, rounded half up. */
  readonly amountMinor: bigint;
}

export interface ProjectMetrics {
  /** Sorted by status; only statuses that occur. */
  readonly subscriptionsByStatus: readonly StatusCount[];
  /** Subscriptions whose status is `active`. */
  readonly activeSubscriptions: number;
  readonly activeCustomers: number;
  /** Sorted by currency; one entry per currency of a subscription counted in MRR. */
  readonly mrr: readonly CurrencyAmount[];
  /** Items of subscriptions counted in MRR that add 0 for want of a unit amount or interval. */
  readonly unpricedItems: number;
  readonly newSubscriptions: number;
  readonly churnedSubscriptions: number;
}

/** A non-negative exact fraction; `denominator` > 0. */
export interface Fraction {
  readonly numerator: bigint;
  readonly denominator: bigint;
}

const mrrStatuses: ReadonlySet<string> = new Set(['active', 'past_due']);
const activeCustomerStatuses: ReadonlySet<string> = new Set(['active', 'trialing']);

/** Whether a subscription of this status adds its items to MRR. */
export const countsInMrr = (status: string): boolean => mrrStatuses.has(status);
/** Whether a subscription of this status makes its customer an active one. */
export const makesActiveCustomer = (status: string): boolean => activeCustomerStatuses.has(status);

/** Periods per month, as a fraction over 12: a year is 1/12 of a month's count, a week 52/12. */
const periodsPerTwelveMonths: Readonly<Record<string, bigint>> = {
  day: 365n,
  week: 52n,
  month: 12n,
  year: 1n,
};

/** The monthly equivalent of one item in minor units, exact; null when it cannot be priced. */
export function monthlyAmount(item: MrrItem): Fraction | null {
  if (item.unitAmount === null || item.interval === null) return null;
  const perTwelveMonths = periodsPerTwelveMonths[item.interval];
  if (perTwelveMonths === undefined) return null;
  if (!isWholeAtLeast(item.intervalCount, 1) || !isWholeAtLeast(item.unitAmount, 0)) return null;
  if (!isWholeAtLeast(item.quantity, 0)) return null;
  return reduce({
    numerator: BigInt(item.unitAmount) * BigInt(item.quantity) * perTwelveMonths,
    denominator: 12n * BigInt(item.intervalCount),
  });
}

export function addFractions(a: Fraction, b: Fraction): Fraction {
  return reduce({
    numerator: a.numerator * b.denominator + b.numerator * a.denominator,
    denominator: a.denominator * b.denominator,
  });
}

/** The nearest whole number; halves go up. */
export function roundHalfUp(value: Fraction): bigint {
  return floorDiv(2n * value.numerator + value.denominator, 2n * value.denominator);
}

export function computeProjectMetrics(
  subscriptions: readonly MetricsSubscription[],
  window: MetricsWindow,
): ProjectMetrics {
  const byStatus = new Map<string, number>();
  const activeCustomers = new Set<string>();
  const mrr = new Map<string, Fraction>();
  let unpricedItems = 0;
  let newSubscriptions = 0;
  let churnedSubscriptions = 0;

  for (const subscription of subscriptions) {
    byStatus.set(subscription.status, (byStatus.get(subscription.status) ?? 0) + 1);
    if (activeCustomerStatuses.has(subscription.status)) {
      activeCustomers.add(subscription.customerId);
    }
    if (mrrStatuses.has(subscription.status)) {
      for (const item of subscription.items) {
        const currency = item.currency.toLowerCase();
        const sum = mrr.get(currency) ?? zero;
        const amount = monthlyAmount(item);
        if (amount === null) unpricedItems += 1;
        mrr.set(currency, amount === null ? sum : addFractions(sum, amount));
      }
    }
    if (within(subscription.created, window)) newSubscriptions += 1;
    const ended = endOf(subscription);
    if (ended !== null && within(ended, window)) churnedSubscriptions += 1;
  }

  return {
    subscriptionsByStatus: [...byStatus]
      .sort(([a], [b]) => compareText(a, b))
      .map(([status, count]) => ({ status, count })),
    activeSubscriptions: byStatus.get('active') ?? 0,
    activeCustomers: activeCustomers.size,
    mrr: [...mrr]
      .sort(([a], [b]) => compareText(a, b))
      .map(([currency, sum]) => ({ currency, amountMinor: roundHalfUp(sum) })),
    unpricedItems,
    newSubscriptions,
    churnedSubscriptions,
  };
}

/** When the subscription ended, for churn; null while it runs or when it never started. */
export function endOf(subscription: MetricsSubscription): Date | null {
  if (subscription.status === neverStartedStatus) return null;
  if (subscription.endedAt !== null) return subscription.endedAt;
  return subscription.status === 'canceled' ? subscription.canceledAt : null;
}

function within(time: Date, window: MetricsWindow): boolean {
  return time.getTime() >= window.start.getTime() && time.getTime() < window.end.getTime();
}

export const zero: Fraction = { numerator: 0n, denominator: 1n };

function reduce(value: Fraction): Fraction {
  const divisor = gcd(value.numerator, value.denominator);
  return { numerator: value.numerator / divisor, denominator: value.denominator / divisor };
}

function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x === 0n ? 1n : x;
}

/** Floor division (bigint `/` truncates toward zero); `divisor` > 0. */
function floorDiv(dividend: bigint, divisor: bigint): bigint {
  const quotient = dividend / divisor;
  return dividend % divisor < 0n ? quotient - 1n : quotient;
}

function isWholeAtLeast(value: number, minimum: number): boolean {
  return Number.isSafeInteger(value) && value >= minimum;
}

/** Plain code-unit order: the same on every machine, unlike localeCompare. */
export function compareText(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}
