/**
 * The form an entitlement set takes in process memory, and what it costs.
 * Most sets are held as a template shared with every customer of the same
 * shape and this customer's values (./set-templates.ts). A set the template
 * does not give back exactly (checked when it is held: same keys in the
 * same order, equal values, so the same JSON, which is how streams tell a
 * change; the engine's sets always
 * come back, a set built in another key order would not) is held compacted
 * (./set-compaction.ts) or, when even that reorders it, as it came. Either
 * way a reader gets a set that reads exactly as the one computed.
 */
import type { EntitlementSet } from '../domain/entitlements.js';
import { SetCompactor } from './set-compaction.js';
import {
  joinSet,
  type SetTemplate,
  type SlotValue,
  splitSet,
  validUntilMsOf,
} from './set-templates.js';

/** Distinct templates shared; past this the registry starts over (held sets keep theirs). */
const maxTemplates = 1_000;

/**
 * Heap bytes on 64-bit Node 20 (no pointer compression), checked against
 * the heap's real growth by test/cache/held-sets.test.ts.
 */
export const heapBytes = {
  /**
   * A Map slot (28 bytes), times the table's spare capacity: V8 keeps
   * deleted slots until the table is full, then rehashes, often to twice the
   * size, so under eviction churn the table holds up to 3 slots per entry.
   */
  mapSlot: 80,
  /** The memo's entry record {value, expiresAt, bytes}, its boxed expiry included. */
  memoEntry: 64,
  /** A TemplatedSet object. */
  templated: 48,
  /** The WeakRef to the decoded set, made at the first hit. */
  weakRef: 32,
  /** An array's object and its store's header (the elements are 8 bytes each). */
  array: 48,
  element: 8,
  /** A number that is not a small integer (dates always) is boxed. */
  boxedNumber: 16,
  stringHeader: 16,
} as const;

/** What a one-byte string of `length` characters takes on the heap. */
export const stringBytes = (length: number): number =>
  heapBytes.stringHeader + Math.ceil(length / 8) * 8;

export interface HeldSet {
  /** The set's own valid_until in epoch milliseconds; null: none. */
  readonly validUntilMs: number | null;
  /** The set, as computed. */
  set(): EntitlementSet;
}

/** A held set and its bytes, the memo's entry and key included. */
export interface Holding {
  readonly held: HeldSet;
  readonly bytes: number;
}

export class SetHolder {
  private readonly templates = new Map<string, SetTemplate>();
  private readonly compactor = new SetCompactor();

  /** `keyLength`: the length of the memo's key for the customer. */
  hold(set: EntitlementSet, keyLength: number): Holding {
    const split = splitSet(set);
    const key = JSON.stringify(split.template);
    const template = this.shared(key, split.template);
    const slots = split.slots.slice(); // exact capacity: push left spare room
    if (!sameTree(joinSet(template, slots), set)) {
      const compact = this.compactor.compact(set);
      // Unshared, the set costs more than the compacted estimate: twice, to be safe.
      const whole = sameTree(compact.set, set) ? compact.set : set;
      const bytes = whole === set ? 2 * compact.bytes : compact.bytes;
      return { held: new WholeSet(whole), bytes };
    }
    const entry = heapBytes.mapSlot + heapBytes.memoEntry + stringBytes(keyLength);
    return { held: new TemplatedSet(template, slots), bytes: entry + templatedBytes(slots) };
  }

  /** How many templates are shared now. */
  get templateCount(): number {
    return this.templates.size;
  }

  private shared(key: string, template: SetTemplate): SetTemplate {
    const held = this.templates.get(key);
    if (held) return held;
    if (this.templates.size >= maxTemplates) this.templates.clear();
    this.templates.set(key, template);
    return template;
  }
}

/**
 * True when `a` and `b` have the same keys in the same order and equal
 * values (Dates by instant): then their JSON is the same too. Stricter than
 * JSON (a key holding undefined counts), which only sends a set to the
 * fallback. JSON.stringify itself costs ~15 µs a set (Date.toJSON).
 */
function sameTree(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) &&
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((value, i) => sameTree(value, b[i]))
    );
  }
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  return (
    keysA.length === keysB.length &&
    keysA.every(
      (key, i) =>
        key === keysB[i] &&
        sameTree((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]),
    )
  );
}

function templatedBytes(slots: readonly SlotValue[]): number {
  let bytes = heapBytes.templated + heapBytes.weakRef + heapBytes.array;
  for (const value of slots) {
    bytes += heapBytes.element;
    if (typeof value === 'string') bytes += stringBytes(value.length);
    else if (typeof value === 'number' && !isSmall(value)) bytes += heapBytes.boxedNumber;
  }
  return bytes;
}

/** V8 keeps 32-bit integers unboxed (Smis) on 64-bit builds without pointer compression. */
const isSmall = (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31;

class TemplatedSet implements HeldSet {
  private decoded: WeakRef<EntitlementSet> | undefined;

  constructor(
    private readonly template: SetTemplate,
    private readonly slots: readonly SlotValue[],
  ) {}

  get validUntilMs(): number | null {
    return validUntilMsOf(this.template, this.slots);
  }

  set(): EntitlementSet {
    const decoded = this.decoded?.deref();
    if (decoded) return decoded;
    const set = joinSet(this.template, this.slots);
    this.decoded = new WeakRef(set);
    return set;
  }
}

class WholeSet implements HeldSet {
  readonly validUntilMs: number | null;

  constructor(private readonly whole: EntitlementSet) {
    this.validUntilMs = whole.validUntil?.getTime() ?? null;
  }

  set(): EntitlementSet {
    return this.whole;
  }
}
