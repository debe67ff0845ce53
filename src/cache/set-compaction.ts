/**
 * Makes an entitlement set smaller before it is held in process memory, by
 * sharing equal parts instead of holding copies (docs/decisions.md, "Caching entitlements", Memory).
 * The engine builds one source object per feature, so a plan of five
 * features holds five equal sources of one subscription, five one-element
 * arrays and a Date per answer; and customers on the same plan hold equal
 * lists of denials. Shared parts are never mutated (the set's types are
 * readonly), so sharing changes nothing a reader can see.
 */
import type { Denial } from '../domain/denial-reasons.js';
import type {
  Entitlement,
  EntitlementSet,
  EntitlementSource,
  MeteredStanding,
} from '../domain/entitlements.js';

/** Distinct denial lists shared across customers; beyond this, new lists are kept as they are. */
const maxSharedDenialLists = 1_000;

/**
 * Heap bytes of the parts of a held set (64-bit V8, Node 20), measured with
 * a heap probe of many customers; they make the memo's byte bound an
 * estimate, not an exact count (load/cache-memory.ts measures the real RSS).
 */
const bytesOf = {
  /** The memo's key, map slot and entry record. */
  entry: 240,
  /** The set object and its list of entitlements. */
  set: 104,
  entitlement: 80,
  list: 56,
  listElement: 8,
  source: 72,
  date: 40,
  metered: 80,
  denial: 40,
  /** A version: a number too large for a small integer, so boxed, and its property. */
  version: 24,
} as const;

/** A set ready to be held, with what holding it costs. */
export interface CompactSet {
  readonly set: EntitlementSet;
  readonly bytes: number;
}

export class SetCompactor {
  private readonly denialLists = new Map<string, readonly Denial[]>();

  compact(set: EntitlementSet): CompactSet {
    const parts = new SetParts();
    const entitlements = set.entitlements.map((e) => parts.entitlement(e));
    const validUntil = parts.date(set.validUntil);
    const denials = set.denials && this.sharedDenials(set.denials);
    const denialBytes =
      denials && denials !== set.denials
        ? 0
        : (set.denials?.length ?? 0) * bytesOf.denial + bytesOf.list;
    return {
      set: {
        entitlements,
        validUntil,
        ...(denials ? { denials } : {}),
        ...(set.version === undefined ? {} : { version: set.version }),
      },
      bytes:
        bytesOf.entry +
        bytesOf.set +
        entitlements.length * (bytesOf.entitlement + bytesOf.listElement) +
        parts.bytes +
        denialBytes +
        (set.version === undefined ? 0 : bytesOf.version),
    };
  }

  /** The shared list equal to `denials`, or `denials` itself when none is held yet. */
  private sharedDenials(denials: readonly Denial[]): readonly Denial[] {
    if (denials.length === 0) return noDenials;
    const key = denials.map((d) => `${d.feature}\u0000${d.reason}`).join('\u0001');
    const shared = this.denialLists.get(key);
    if (shared) return shared;
    if (this.denialLists.size < maxSharedDenialLists) this.denialLists.set(key, denials);
    return denials;
  }
}

const noDenials: readonly Denial[] = [];

/** Equal parts within one set, held once, and what they take. */
class SetParts {
  bytes = 0;
  private readonly dates = new Map<number, Date>();
  private readonly sources = new Map<string, EntitlementSource>();
  private readonly sourceLists = new Map<string, readonly EntitlementSource[]>();

  entitlement(e: Entitlement): Entitlement {
    const sources = this.sourceList(e.sources);
    const validUntil = this.date(e.validUntil);
    const metered = e.metered && this.metered(e.metered);
    if (metered) this.bytes += bytesOf.metered;
    return {
      ...e,
      sources,
      validUntil,
      ...(metered ? { metered } : {}),
    };
  }

  date(date: Date | null): Date | null {
    if (date === null) return null;
    const ms = date.getTime();
    const held = this.dates.get(ms);
    if (held) return held;
    this.dates.set(ms, date);
    this.bytes += bytesOf.date;
    return date;
  }

  private metered(standing: MeteredStanding): MeteredStanding {
    return { ...standing, resetsAt: this.date(standing.resetsAt) ?? standing.resetsAt };
  }

  private sourceList(list: readonly EntitlementSource[]): readonly EntitlementSource[] {
    const sources = list.map((s) => this.source(s));
    const key = sources.map(sourceKey).join('\u0001');
    const held = this.sourceLists.get(key);
    if (held) return held;
    this.sourceLists.set(key, sources);
    this.bytes += bytesOf.list + sources.length * bytesOf.listElement;
    return sources;
  }

  private source(source: EntitlementSource): EntitlementSource {
    const key = sourceKey(source);
    const held = this.sources.get(key);
    if (held) return held;
    const shared = { ...source, validUntil: this.date(source.validUntil) };
    this.sources.set(key, shared);
    // The id is the one string a source holds alone (the others come from the catalog).
    this.bytes += bytesOf.source + 16 + Math.ceil(source.id.length / 8) * 8;
    return shared;
  }
}

function sourceKey(s: EntitlementSource): string {
  return [s.kind, s.id, s.limit, s.validUntil?.getTime(), s.status, s.catalogId].join('\u0000');
}
