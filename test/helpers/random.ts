/**
 * Seeded randomness for property and chaos tests: the same seed gives the
 * same cases, and every test prints its seed so a failure can be replayed.
 * Also the subscription status moves the random histories are made of.
 */
import { randomInt } from 'node:crypto';

/** mulberry32: small, fast, good enough to drive test cases; same seed, same sequence. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export class Rng {
  private readonly next: () => number;

  constructor(seed: number) {
    this.next = mulberry32(seed);
  }

  float(): number {
    return this.next();
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }

  /** A shuffled copy (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i -= 1) {
      const j = Math.floor(this.next() * (i + 1));
      const a = out[i];
      const b = out[j];
      if (a === undefined || b === undefined) throw new Error('shuffle out of range');
      out[i] = b;
      out[j] = a;
    }
    return out;
  }
}

/** The seed named by an environment variable, or a random one (print it with every failure). */
export function seedFromEnv(name: string): number {
  const value = process.env[name];
  return value === undefined || value === '' ? randomInt(2 ** 31) : Number(value);
}

export type SubStatus = 'incomplete' | 'trialing' | 'active' | 'past_due' | 'unpaid' | 'canceled';

/** The statuses a subscription can move to next, as Stripe moves them. */
export const subscriptionTransitions: Readonly<Record<SubStatus, readonly SubStatus[]>> = {
  incomplete: ['active', 'incomplete'],
  trialing: ['trialing', 'active', 'past_due', 'canceled'],
  active: ['active', 'past_due', 'unpaid', 'canceled'],
  past_due: ['active', 'unpaid', 'canceled'],
  unpaid: ['active', 'canceled'],
  canceled: ['canceled'],
};

export function lastOf<T>(items: readonly T[]): T {
  const item = items[items.length - 1];
  if (item === undefined) throw new Error('empty list');
  return item;
}
