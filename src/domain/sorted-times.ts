/**
 * A multiset of times (milliseconds) kept sorted, so that how many fall in
 * a half-open window is two binary searches: O(log n) per count, whatever
 * the window. Adding or removing one time moves the tail of the array
 * (a memmove, microseconds at 100,000 times); building from many sorts once.
 */
export class SortedTimes {
  private readonly times: number[];

  private constructor(sorted: number[]) {
    this.times = sorted;
  }

  static of(times: Iterable<number>): SortedTimes {
    return new SortedTimes([...times].sort((a, b) => a - b));
  }

  get size(): number {
    return this.times.length;
  }

  add(time: number): void {
    this.times.splice(this.firstAtOrAfter(time), 0, time);
  }

  /** Removes one occurrence of `time`; nothing if it is not there. */
  remove(time: number): void {
    const index = this.firstAtOrAfter(time);
    if (this.times[index] === time) this.times.splice(index, 1);
  }

  /** How many times t satisfy start <= t < end. */
  countWithin(start: number, end: number): number {
    if (end <= start) return 0;
    return this.firstAtOrAfter(end) - this.firstAtOrAfter(start);
  }

  /** The index of the first time >= `time` (the length when there is none). */
  private firstAtOrAfter(time: number): number {
    let low = 0;
    let high = this.times.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.times[middle] ?? Number.POSITIVE_INFINITY) < time) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
