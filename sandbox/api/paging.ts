/** Stored objects, listed newest first with Stripe's cursors (`starting_after`, `ending_before`). */
import type Stripe from 'stripe';
import { type ApiError, invalid, noSuch } from './errors.js';
import type { Params } from './form.js';

export class OrderedStore<T extends { id: string }> {
  private readonly byId = new Map<string, T>();
  private order: string[] = [];
  private readonly position = new Map<string, number>();
  private positionsStale = false;

  get size(): number {
    return this.byId.size;
  }

  get(id: string): T | undefined {
    return this.byId.get(id);
  }

  /** Adds as the newest, or replaces in place. */
  put(item: T): void {
    if (!this.byId.has(item.id)) {
      this.position.set(item.id, this.order.length);
      this.order.push(item.id);
    }
    this.byId.set(item.id, item);
  }

  delete(id: string): boolean {
    if (!this.byId.delete(id)) return false;
    this.order = this.order.filter((other) => other !== id);
    this.positionsStale = true;
    return true;
  }

  /** Oldest first. */
  values(): T[] {
    return this.order.flatMap((id) => {
      const item = this.byId.get(id);
      return item === undefined ? [] : [item];
    });
  }

  private indexOf(id: string): number | undefined {
    if (this.positionsStale) {
      this.position.clear();
      for (const [index, other] of this.order.entries()) this.position.set(other, index);
      this.positionsStale = false;
    }
    return this.position.get(id);
  }

  /**
   * One page, newest first. `startingAfter`: the next older items;
   * `endingBefore`: the items just newer than it (still newest first).
   */
  page(
    limit: number,
    cursor: { startingAfter?: string; endingBefore?: string },
    matches: (item: T) => boolean,
    missingCursor: (id: string, param: string) => ApiError,
  ): { data: T[]; hasMore: boolean } {
    const collected: T[] = [];
    const take = (index: number): boolean => {
      const id = this.order[index];
      const item = id === undefined ? undefined : this.byId.get(id);
      if (item !== undefined && matches(item)) collected.push(item);
      return collected.length > limit;
    };
    if (cursor.endingBefore !== undefined) {
      const at = this.indexOf(cursor.endingBefore);
      if (at === undefined) throw missingCursor(cursor.endingBefore, 'ending_before');
      for (let i = at + 1; i < this.order.length && !take(i); i += 1);
      const hasMore = collected.length > limit;
      return { data: collected.slice(0, limit).reverse(), hasMore };
    }
    let from = this.order.length - 1;
    if (cursor.startingAfter !== undefined) {
      const at = this.indexOf(cursor.startingAfter);
      if (at === undefined) throw missingCursor(cursor.startingAfter, 'starting_after');
      from = at - 1;
    }
    for (let i = from; i >= 0 && !take(i); i -= 1);
    return { data: collected.slice(0, limit), hasMore: collected.length > limit };
  }
}

export const LIST_PARAMS = ['limit', 'starting_after', 'ending_before', 'expand'] as const;

export function listResponse<T extends { id: string }>(
  store: OrderedStore<T>,
  params: Params,
  url: string,
  kind: string,
  matches: (item: T) => boolean = () => true,
): Stripe.ApiList<T> {
  const limit = params.integer('limit', 1, 100) ?? 10;
  const startingAfter = params.string('starting_after');
  const endingBefore = params.string('ending_before');
  if (startingAfter !== undefined && endingBefore !== undefined) {
    throw invalid('You may only specify one of these parameters: ending_before, starting_after.');
  }
  const { data, hasMore } = store.page(
    limit,
    {
      ...(startingAfter === undefined ? {} : { startingAfter }),
      ...(endingBefore === undefined ? {} : { endingBefore }),
    },
    matches,
    (id, param) => noSuch(kind, id, param),
  );
  return { object: 'list', data, has_more: hasMore, url };
}
