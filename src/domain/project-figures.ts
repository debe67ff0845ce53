/**
 * A project's business figures kept up to date one subscription at a time,
 * so that reading them costs O(statuses + currencies + log n), not a pass
 * over every subscription: what `computeProjectMetrics` (domain/mrr.ts)
 * computes from scratch, with the same rules, as running totals.
 *
 * Each subscription is held as its contribution (status, customer, MRR per
 * currency, created, ended); replacing or removing one subtracts its old
 * contribution exactly (MRR sums are exact fractions, so subtracting never
 * drifts). Active customers stay exact: a count of qualifying subscriptions
 * per customer, the customer counted while its count is above zero. New
 * and churned subscriptions in a window are binary searches in the sorted
 * created and ended times. Pure: no I/O, no clock.
 */
import {
  addFractions,
  compareText,
  countsInMrr,
  endOf,
  type Fraction,
  type MetricsSubscription,
  type MetricsWindow,
  makesActiveCustomer,
  monthlyAmount,
  type ProjectMetrics,
  roundHalfUp,
  zero,
} from './mrr.js';
import { SortedTimes } from './sorted-times.js';

/** What one subscription adds to its project's figures. */
export interface MetricsContribution {
  readonly id: string;
  readonly customerId: string;
  readonly status: string;
  /** Per currency (lower case) of its items, when its status counts in MRR; else empty. */
  readonly mrr: ReadonlyMap<string, Fraction>;
  /** Items counted in MRR that add 0 for want of a unit amount or interval. */
  readonly unpricedItems: number;
  readonly createdMs: number;
  /** When it ended, for churn (`endOf`); null while it runs. */
  readonly endedMs: number | null;
}

export function contributionOf(subscription: MetricsSubscription): MetricsContribution {
  const mrr = new Map<string, Fraction>();
  let unpricedItems = 0;
  if (countsInMrr(subscription.status)) {
    for (const item of subscription.items) {
      const currency = item.currency.toLowerCase();
      const amount = monthlyAmount(item);
      if (amount === null) unpricedItems += 1;
      const sum = mrr.get(currency) ?? zero;
      mrr.set(currency, amount === null ? sum : addFractions(sum, amount));
    }
  }
  return {
    id: subscription.id,
    customerId: subscription.customerId,
    status: subscription.status,
    mrr,
    unpricedItems,
    createdMs: subscription.created.getTime(),
    endedMs: endOf(subscription)?.getTime() ?? null,
  };
}

interface CurrencyTotal {
  readonly sum: Fraction;
  /** Contributions that name this currency: the currency is shown while any does. */
  readonly subscriptions: number;
}

export class ProjectFigures {
  private readonly contributions = new Map<string, MetricsContribution>();
  /** Subscription ids per customer, to replace one customer's subscriptions at once. */
  private readonly byCustomer = new Map<string, Set<string>>();
  private readonly byStatus = new Map<string, number>();
  /** Qualifying subscriptions per active customer; a customer is here only while above 0. */
  private readonly activeCustomers = new Map<string, number>();
  private readonly mrr = new Map<string, CurrencyTotal>();
  private unpricedItems = 0;
  private readonly created: SortedTimes;
  private readonly ended: SortedTimes;

  private constructor(contributions: readonly MetricsContribution[]) {
    const unique = new Map(contributions.map((c) => [c.id, c]));
    for (const contribution of unique.values()) this.count(contribution, 1);
    this.created = SortedTimes.of([...unique.values()].map((c) => c.createdMs));
    this.ended = SortedTimes.of(
      [...unique.values()].flatMap((c) => (c.endedMs === null ? [] : [c.endedMs])),
    );
  }

  /** Figures of these subscriptions (the last contribution of an id wins). */
  static of(contributions: readonly MetricsContribution[]): ProjectFigures {
    return new ProjectFigures(contributions);
  }

  get size(): number {
    return this.contributions.size;
  }

  /** Adds the subscription, or replaces what it contributed before. */
  put(contribution: MetricsContribution): void {
    this.remove(contribution.id);
    this.count(contribution, 1);
    this.created.add(contribution.createdMs);
    if (contribution.endedMs !== null) this.ended.add(contribution.endedMs);
  }

  remove(subscriptionId: string): void {
    const old = this.contributions.get(subscriptionId);
    if (old === undefined) return;
    this.count(old, -1);
    this.created.remove(old.createdMs);
    if (old.endedMs !== null) this.ended.remove(old.endedMs);
  }

  /** The customer's subscriptions are now exactly `current` (re-read from the store). */
  replaceCustomer(customerId: string, current: readonly MetricsContribution[]): void {
    const keep = new Set(current.map((c) => c.id));
    for (const id of [...(this.byCustomer.get(customerId) ?? [])])
      if (!keep.has(id)) this.remove(id);
    for (const contribution of current) this.put(contribution);
  }

  metrics(window: MetricsWindow): ProjectMetrics {
    return {
      subscriptionsByStatus: [...this.byStatus]
        .sort(([a], [b]) => compareText(a, b))
        .map(([status, count]) => ({ status, count })),
      activeSubscriptions: this.byStatus.get('active') ?? 0,
      activeCustomers: this.activeCustomers.size,
      mrr: [...this.mrr]
        .sort(([a], [b]) => compareText(a, b))
        .map(([currency, total]) => ({ currency, amountMinor: roundHalfUp(total.sum) })),
      unpricedItems: this.unpricedItems,
      newSubscriptions: this.created.countWithin(window.start.getTime(), window.end.getTime()),
      churnedSubscriptions: this.ended.countWithin(window.start.getTime(), window.end.getTime()),
    };
  }

  /** Adds (`sign` 1) or subtracts (-1) a contribution's share of the totals, times excepted. */
  private count(contribution: MetricsContribution, sign: 1 | -1): void {
    const { id, customerId, status } = contribution;
    if (sign === 1) {
      this.contributions.set(id, contribution);
      const ids = this.byCustomer.get(customerId) ?? new Set<string>();
      this.byCustomer.set(customerId, ids.add(id));
    } else {
      this.contributions.delete(id);
      const ids = this.byCustomer.get(customerId);
      ids?.delete(id);
      if (ids?.size === 0) this.byCustomer.delete(customerId);
    }
    addCount(this.byStatus, status, sign);
    if (makesActiveCustomer(status)) addCount(this.activeCustomers, customerId, sign);
    for (const [currency, amount] of contribution.mrr) this.addMrr(currency, amount, sign);
    this.unpricedItems += sign * contribution.unpricedItems;
  }

  private addMrr(currency: string, amount: Fraction, sign: 1 | -1): void {
    const total = this.mrr.get(currency) ?? { sum: zero, subscriptions: 0 };
    const subscriptions = total.subscriptions + sign;
    if (subscriptions <= 0) {
      this.mrr.delete(currency);
      return;
    }
    const signed = { numerator: BigInt(sign) * amount.numerator, denominator: amount.denominator };
    this.mrr.set(currency, { sum: addFractions(total.sum, signed), subscriptions });
  }
}

/** Adds `delta` to a count, dropping the key at 0 so that only what occurs is shown. */
function addCount(counts: Map<string, number>, key: string, delta: number): void {
  const next = (counts.get(key) ?? 0) + delta;
  if (next <= 0) counts.delete(key);
  else counts.set(key, next);
}
