/**
 * Entitlement sets held in process memory as a shared template plus the
 * few values of one customer (docs/decisions.md, "Caching entitlements",
 * Memory). Customers on one plan differ only in their source ids, dates and
 * numbers (limits, usage, balance); features, kinds, statuses, catalog ids
 * and denials are the plan's. So a template holds those once, with slot
 * numbers where a customer's values go, and a held set is the template and
 * one short array of values: about 200 bytes instead of a tree of ~15
 * objects. It is decoded on a hit (a microsecond); while anything (a
 * stream) holds the decoded set, further hits return that same object.
 */
import type { Denial, DenialReasonName } from '../domain/denial-reasons.js';
import type {
  Entitlement,
  EntitlementSet,
  EntitlementSource,
  MeteredStanding,
  SourceKind,
} from '../domain/entitlements.js';

/** A customer's values: ids, limits and counts, and dates as epoch milliseconds. */
export type SlotValue = string | number | null;

/** Where a customer's value goes: an index into its slots. */
type Slot = number;

interface SourceTemplate {
  readonly kind: SourceKind;
  readonly id: Slot;
  readonly limit: Slot;
  readonly validUntil: Slot;
  readonly status: string | null;
  readonly catalogId: string | null;
}

interface MeteredTemplate {
  readonly usage: Slot;
  readonly balance: Slot;
  readonly reserved: Slot;
  readonly credits: Slot;
  readonly resetsAt: Slot;
  readonly overage: MeteredStanding['overage'];
}

interface EntitlementTemplate {
  readonly feature: string;
  readonly allowed: boolean;
  readonly limit: Slot;
  readonly sources: readonly SourceTemplate[];
  readonly validUntil: Slot;
  readonly denialReason?: DenialReasonName;
  readonly metered?: MeteredTemplate;
}

export interface SetTemplate {
  readonly entitlements: readonly EntitlementTemplate[];
  readonly validUntil: Slot;
  readonly denials?: readonly Denial[];
  /** Where the set's version is; absent: the set has none. */
  readonly version?: Slot;
}

/** A set taken apart: its template (not yet shared) and its values. */
export interface SplitSet {
  readonly template: SetTemplate;
  readonly slots: readonly SlotValue[];
}

/** Takes `set` apart; equal values share one slot. */
export function splitSet(set: EntitlementSet): SplitSet {
  const slots = new SlotWriter();
  const date = (d: Date | null) => slots.put(d === null ? null : d.getTime());
  const entitlements = set.entitlements.map((e): EntitlementTemplate => {
    const sources = e.sources.map(
      (s): SourceTemplate => ({
        kind: s.kind,
        id: slots.put(s.id),
        limit: slots.put(s.limit),
        validUntil: date(s.validUntil),
        status: s.status,
        catalogId: s.catalogId,
      }),
    );
    const m = e.metered;
    return {
      feature: e.feature,
      allowed: e.allowed,
      limit: slots.put(e.limit),
      sources,
      validUntil: date(e.validUntil),
      ...(e.denialReason === undefined ? {} : { denialReason: e.denialReason }),
      ...(m
        ? {
            metered: {
              usage: slots.put(m.usage),
              balance: slots.put(m.balance),
              reserved: slots.put(m.reserved),
              credits: slots.put(m.credits),
              resetsAt: date(m.resetsAt),
              overage: m.overage,
            },
          }
        : {}),
    };
  });
  const template: SetTemplate = {
    entitlements,
    validUntil: date(set.validUntil),
    ...(set.denials ? { denials: set.denials } : {}),
    ...(set.version === undefined ? {} : { version: slots.put(set.version) }),
  };
  return { template, slots: slots.values };
}

/** The set `template` and `slots` stand for, in the engine's key order. */
export function joinSet(template: SetTemplate, slots: readonly SlotValue[]): EntitlementSet {
  const read = new SlotReader(slots);
  const entitlements = template.entitlements.map((e): Entitlement => {
    const sources = e.sources.map(
      (s): EntitlementSource => ({
        kind: s.kind,
        id: read.string(s.id),
        limit: read.numberOrNull(s.limit),
        validUntil: read.date(s.validUntil),
        status: s.status,
        catalogId: s.catalogId,
      }),
    );
    const entitlement: Entitlement = {
      feature: e.feature,
      allowed: e.allowed,
      limit: read.numberOrNull(e.limit),
      sources,
      validUntil: read.date(e.validUntil),
      ...(e.denialReason === undefined ? {} : { denialReason: e.denialReason }),
    };
    const m = e.metered;
    if (!m) return entitlement;
    const metered: MeteredStanding = {
      usage: read.number(m.usage),
      balance: read.numberOrNull(m.balance),
      reserved: read.number(m.reserved),
      credits: read.number(m.credits),
      resetsAt: read.date(m.resetsAt) ?? new Date(Number.NaN),
      overage: m.overage,
    };
    return { ...entitlement, metered };
  });
  return {
    entitlements,
    validUntil: read.date(template.validUntil),
    ...(template.denials ? { denials: template.denials } : {}),
    ...(template.version === undefined ? {} : { version: read.number(template.version) }),
  };
}

/** The set's own valid_until in epoch milliseconds (null: none), without joining it. */
export function validUntilMsOf(template: SetTemplate, slots: readonly SlotValue[]): number | null {
  const value = slots[template.validUntil];
  return typeof value === 'number' ? value : null;
}

class SlotWriter {
  readonly values: SlotValue[] = [];
  private readonly index = new Map<SlotValue, Slot>();

  put(value: SlotValue): Slot {
    const held = this.index.get(value);
    if (held !== undefined) return held;
    const slot = this.values.length;
    this.values.push(value);
    this.index.set(value, slot);
    return slot;
  }
}

/** Reads slots by the type the template knows they have (splitSet wrote them so). */
class SlotReader {
  constructor(private readonly slots: readonly SlotValue[]) {}

  string(slot: Slot): string {
    const value = this.slots[slot];
    return typeof value === 'string' ? value : String(value);
  }

  number(slot: Slot): number {
    const value = this.slots[slot];
    return typeof value === 'number' ? value : Number.NaN;
  }

  numberOrNull(slot: Slot): number | null {
    const value = this.slots[slot];
    return typeof value === 'number' ? value : null;
  }

  date(slot: Slot): Date | null {
    const value = this.slots[slot];
    return typeof value === 'number' ? new Date(value) : null;
  }
}
