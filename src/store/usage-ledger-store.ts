/**
 * The usage ledger: one insert-only chain of entries per (project,
 * customer, feature), `_id = <chain>:<seq>` with seq 1, 2, 3..., each
 * holding the chain's whole state after it (usage per recent period, open
 * reservations, credits used; src/domain/usage-allocation.ts). FerretDB's
 * updates are not atomic (docs/ferretdb.md, finding 2), so there is no
 * `$inc` on a shared document: an append reads the head, decides what to
 * write from its state (a plan, src/domain/usage-plans.ts) and inserts
 * seq + 1; a concurrent appender loses on the unique `_id` (11000), re-reads
 * and runs its plan again on the new head. That serialises every writer of
 * a chain, across replicas, so a refusal under `block` is exact, and holds
 * and usage are decided together.
 *
 * The head is found by `_id` only (any other filter scans the collection,
 * finding 6): from an in-process hint of the last seq, then forward by
 * exponential and binary search; seqs are contiguous because no entry is
 * deleted (retention: docs/decisions.md, "Usage ledger"). An append trusts
 * the hint without reading: if another replica wrote since, the insert of
 * seq + 1 loses on `_id` and the head is searched then. Reads verify it.
 *
 * Every entry has a `once_key`, unique in the collection
 * (src/domain/usage-once-keys.ts): a TrackUsage's or ReserveUsage's
 * idempotency key, or the one end (commit or release) of a reservation, so
 * one insert both appends the operation and applies it once (a retry,
 * concurrent or days later, loses on that index and answers the entry it
 * finds). A refusal looks the once key up before it is answered, so a
 * retry of an operation that was applied answers it even when the balance
 * would refuse it now.
 *
 * `append` is the one way in: the plan (a pure function of the head's
 * state and the seq the entry would get) decides what is written.
 *
 * Appends of one chain in this process are group-committed: callers queue,
 * and one writer at a time plans as many of them as are waiting (up to
 * `maxBatch`) on the head, one after another, and inserts the entries with
 * one ordered insertMany. So N concurrent tracks of a chain cost a round
 * trip or two, not N; each caller still gets its own outcome, and a
 * refusal is answered only once every entry planned before it is durable.
 * An insert that loses (to another replica, or on a once key) stops the
 * ordered insert there; the entries before it stand, the rest are planned
 * again on the new head. A batch of one entry (one caller on its chain, as
 * when many customers track at once) is group-committed across chains
 * instead (lone-entry-inserts.ts).
 */
import { type Collection, type Db, MongoBulkWriteError } from 'mongodb';
import { ConflictError } from '../domain/errors.js';
import { type ChainState, emptyChainState, type UsageHold } from '../domain/usage-allocation.js';
import type { ChainPlan, PlanAt, RefusalReason } from '../domain/usage-plans.js';
import { LoneEntryInserts } from './lone-entry-inserts.js';
import {
  type AllocationDoc,
  allocationDoc,
  type ChainStateDoc,
  stateDoc,
  stateFromDoc,
} from './usage-chain-docs.js';

export type UsageEntryKind = 'usage' | 'hold' | 'commit' | 'release';

export interface UsageEntryDoc {
  /** `<chain>:<seq, 10 digits>`. */
  _id: string;
  chain: string;
  seq: number;
  project_id: string;
  customer_id: string;
  feature: string;
  kind: UsageEntryKind;
  /** The id of the operation this entry records (usg_... or, for a hold, rsv_...). */
  op_id: string;
  /** The usage this entry records (0 for holds and releases). */
  amount: number;
  /** The period the usage or hold counts in, keyed by its end. */
  period_end: Date;
  usage_id: string | null;
  reservation_id: string | null;
  idempotency_key: string | null;
  /** Unique in the collection: the same operation is never appended twice. */
  once_key: string;
  /** What the operation asked (its once key must not be reused for another); null when nothing is compared. */
  request: string | null;
  /** A hold's expiry (the hold counts in the balance until then, unless ended); null for other kinds. */
  expires_at: Date | null;
  occurred_at: Date;
  recorded_at: Date;
  allocation: AllocationDoc | null;
  /** The chain's state after this entry. */
  state: ChainStateDoc;
}

/** Whose usage of which feature: one chain across all periods. */
export interface UsageChain {
  readonly projectId: string;
  readonly customerId: string;
  readonly feature: string;
}

/** What an entry says besides the chain's state (the plan decides that). */
export interface EntryFacts {
  readonly kind: UsageEntryKind;
  readonly opId: string;
  readonly usageId: string | null;
  readonly reservationId: string | null;
  readonly idempotencyKey: string | null;
  readonly occurredAt: Date;
  /** Default: the chain, the kind and the operation's id. */
  readonly onceKey?: string;
  readonly request?: string;
  /** A hold's expiry. */
  readonly expiresAt?: Date;
}

/** Facts that name the seq their entry gets (a reservation id names its hold's seq). */
export type EntryFactsAt = (seq: number) => EntryFacts;

export interface LedgerHead {
  readonly seq: number;
  readonly state: ChainState;
}

export type AppendOutcome =
  | {
      readonly kind: 'appended';
      readonly entry: UsageEntryDoc;
      /** The entry of the same once key was there already (a retry): nothing was written. */
      readonly repeated: boolean;
    }
  | {
      readonly kind: 'refused';
      readonly reason: RefusalReason;
      readonly balance: number;
    };

/** Not `usage_entries`: that name held the per-period layout, which had no once keys. */
export const usageLedgerCollection = 'usage_ledger';

const emptyHead: LedgerHead = { seq: 0, state: emptyChainState };
/** Each lost race means another writer appended; past this many, give up and let the callers retry. */
const maxLostRaces = 32;
const maxHints = 10_000;
/** Appends planned and inserted together at most (one insertMany). */
const maxBatch = 64;

/** A queued append, settled by the chain's writer. */
interface PendingAppend {
  readonly facts: EntryFacts | EntryFactsAt;
  readonly plan: PlanAt;
  readonly settle: (outcome: AppendOutcome) => void;
  readonly fail: (error: unknown) => void;
}

/** What the writer decided for one pending append: an entry to insert, or a refusal. */
type Decision =
  | { readonly pending: PendingAppend; readonly entry: UsageEntryDoc }
  | {
      readonly pending: PendingAppend;
      readonly facts: EntryFacts;
      readonly refusal: Extract<ChainPlan, { kind: 'refuse' }>;
    };

export function chainId(chain: UsageChain): string {
  return [chain.projectId, chain.customerId, chain.feature].map(encodeURIComponent).join(':');
}

const entryId = (chain: string, seq: number) => `${chain}:${String(seq).padStart(10, '0')}`;
const headOf = (entry: UsageEntryDoc): LedgerHead => ({
  seq: entry.seq,
  state: stateFromDoc(entry.state),
});

export class UsageLedgerStore {
  private readonly entries: Collection<UsageEntryDoc>;
  /** The last head seen per chain: a warm read costs one lookup by `_id`, a warm append none. */
  private readonly hints = new Map<string, LedgerHead>();
  /** Appends waiting per chain; a chain with an entry here has a writer draining it. */
  private readonly queues = new Map<string, PendingAppend[]>();

  private readonly loneInserts: LoneEntryInserts<UsageEntryDoc>;

  /**
   * `now`: when an entry counts as recorded, business time (what
   * ExplainEntitlement's instants are; src/domain/business-clock.ts).
   */
  constructor(
    db: Db,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.entries = db.collection<UsageEntryDoc>(usageLedgerCollection);
    this.loneInserts = new LoneEntryInserts(this.entries);
  }

  /** The chain's state at its head (empty when nothing was recorded). */
  async state(chain: UsageChain): Promise<ChainState> {
    return (await this.head(chainId(chain))).state;
  }

  /**
   * The chain's state as of `at`: after its last entry recorded at or
   * before then (entries are recorded in seq order). A bisection over seq,
   * each step one lookup by `_id`.
   */
  async stateAt(chain: UsageChain, at: Date): Promise<ChainState> {
    const id = chainId(chain);
    const head = await this.head(id);
    let low = 0; // seq 0: before the first entry
    let lowState = emptyChainState;
    let high = head.seq + 1; // every entry from here on was recorded after `at`
    while (high - low > 1) {
      const middle = Math.floor((low + high) / 2);
      const entry = await this.entries.findOne({ _id: entryId(id, middle) });
      if (entry && entry.recorded_at <= at) {
        low = middle;
        lowState = stateFromDoc(entry.state);
      } else high = middle;
    }
    return lowState;
  }

  /** How much of each credit lot the chain's usage drew, by lot id (CreditService's port). */
  async usedOf(
    projectId: string,
    customerId: string,
    feature: string,
  ): Promise<ReadonlyMap<string, number>> {
    const state = await this.state({ projectId, customerId, feature });
    return new Map(state.creditsUsed.map((use) => [use.id, use.used]));
  }

  /** The head as MongoDB has it now: one lookup past a hint (entries are never deleted). */
  async head(chain: string): Promise<LedgerHead> {
    const head = await this.searchForward(chain, this.hints.get(chain) ?? emptyHead);
    this.remember(chain, head);
    return head;
  }

  /**
   * Runs `plan` on the head's state and appends what it decides, or answers
   * its refusal (nothing written). On a lost race the plan runs again on
   * the new head.
   */
  append(
    chain: UsageChain,
    facts: EntryFacts | EntryFactsAt,
    plan: PlanAt,
  ): Promise<AppendOutcome> {
    const id = chainId(chain);
    return new Promise((settle, fail) => {
      const queue = this.queues.get(id);
      if (queue) {
        queue.push({ facts, plan, settle, fail });
        return;
      }
      this.queues.set(id, [{ facts, plan, settle, fail }]);
      void this.drain(chain, id);
    });
  }

  /**
   * The hold `id` as this process last saw the chain (no read): a hold it
   * wrote or read. Undefined says nothing (another replica's, or ended).
   */
  knownHold(chain: UsageChain, id: string): UsageHold | undefined {
    return this.hints.get(chainId(chain))?.state.holds.find((hold) => hold.id === id);
  }

  /** The entry at `seq` of `chain` (chainId), by `_id`. */
  async entryAt(chain: string, seq: number): Promise<UsageEntryDoc | null> {
    return this.entries.findOne({ _id: entryId(chain, seq) });
  }

  /** The entry of `onceKey`: a scan on FerretDB, so only retries and refusals ask. */
  async byOnceKey(onceKey: string): Promise<UsageEntryDoc | null> {
    return this.entries.findOne({ once_key: onceKey });
  }

  /** A lone entry joins other chains' lone entries (lone-entry-inserts.ts); more go in order. */
  private async insert(entries: readonly UsageEntryDoc[]): Promise<number> {
    const [only] = entries;
    if (only !== undefined && entries.length === 1)
      return (await this.loneInserts.insert(only)) ? 1 : 0;
    return insertInOrder(this.entries, entries);
  }

  /** The chain's one writer in this process: batches until nobody waits. */
  private async drain(chain: UsageChain, id: string): Promise<void> {
    for (;;) {
      const queue = this.queues.get(id) ?? [];
      if (queue.length === 0) {
        this.queues.delete(id);
        return;
      }
      const batch = queue.splice(0, maxBatch);
      try {
        await this.writeBatch(chain, id, batch);
      } catch (error) {
        // MongoDB failed mid-batch: which entries landed is unknown, so
        // every caller not yet answered retries (its once key makes that safe).
        for (const pending of batch) pending.fail(error);
      }
    }
  }

  /** Plans the batch on the head, inserts it in order, and settles every append of it. */
  private async writeBatch(chain: UsageChain, id: string, batch: PendingAppend[]): Promise<void> {
    const hint = this.hints.get(id);
    let head = hint ?? (await this.head(id));
    let verified = hint === undefined;
    let rest = batch;
    for (let lostRaces = 0; rest.length > 0; ) {
      const decisions = decide(chain, id, head, rest, this.now());
      // The hint may be behind another replica's writes (a release, the hold
      // itself): a refusal stands only on the head MongoDB has. One planned
      // after an inserted entry is on it (seq + 1 was free, so seq was the head).
      if (!verified && refusesBeforeAnyEntry(decisions)) {
        verified = true;
        const fresh = await this.head(id);
        if (fresh.seq !== head.seq) {
          head = fresh;
          continue;
        }
      }
      const entries = decisions.flatMap((d) => ('entry' in d ? [d.entry] : []));
      const inserted = await this.insert(entries);
      const stopped = this.settleInserted(id, decisions, inserted);
      if (stopped === decisions.length) return;
      const failed = decisions[stopped];
      if (!failed || !('entry' in failed)) return;
      const lost = await this.whyNotInserted(failed.entry);
      verified = true;
      if (lost.kind === 'repeated') {
        failed.pending.settle({ kind: 'appended', entry: lost.entry, repeated: true });
        rest = decisions.slice(stopped + 1).map((d) => d.pending);
        head = await this.head(id);
        continue;
      }
      lostRaces += 1;
      if (lostRaces >= maxLostRaces) {
        const error = new ConflictError('usage of this feature is too contended right now; retry');
        for (const d of decisions.slice(stopped)) d.pending.fail(error);
        return;
      }
      rest = decisions.slice(stopped).map((d) => d.pending);
      head = lost.head;
    }
  }

  /**
   * Answers the decisions whose entries are durable (the first `inserted`
   * entries) and the refusals between them; returns the index of the first
   * decision left unanswered (its entry was not inserted).
   */
  private settleInserted(id: string, decisions: readonly Decision[], inserted: number): number {
    let entriesSettled = 0;
    for (const [index, decision] of decisions.entries()) {
      if ('refusal' in decision) {
        // The once key's lookup must not hold up the chain's writer.
        this.refusedOrRepeated(decision.facts, decision.refusal).then(
          decision.pending.settle,
          decision.pending.fail,
        );
        continue;
      }
      if (entriesSettled === inserted) return index;
      entriesSettled += 1;
      this.remember(id, headOf(decision.entry));
      decision.pending.settle({ kind: 'appended', entry: decision.entry, repeated: false });
    }
    return decisions.length;
  }

  /** A retry of an operation already applied answers it, not the refusal the state gives now. */
  private async refusedOrRepeated(
    facts: EntryFacts,
    refusal: Extract<ChainPlan, { kind: 'refuse' }>,
  ): Promise<AppendOutcome> {
    const same = facts.onceKey === undefined ? null : await this.byOnceKey(facts.onceKey);
    if (same) return { kind: 'appended', entry: same, repeated: true };
    return { kind: 'refused', reason: refusal.reason, balance: refusal.balance };
  }

  /**
   * An insert lost on `_id` (another writer took the seq: search the head
   * from there) or on `once_key` (the operation is there already). The
   * error does not say which index, so the seq is looked at first; the
   * once key's lookup scans on FerretDB, but only retries take that path.
   */
  private async whyNotInserted(
    entry: UsageEntryDoc,
  ): Promise<
    | { readonly kind: 'repeated'; readonly entry: UsageEntryDoc }
    | { readonly kind: 'lost'; readonly head: LedgerHead }
  > {
    const atSeq = await this.entries.findOne({ _id: entry._id });
    if (atSeq?.once_key === entry.once_key) return { kind: 'repeated', entry: atSeq };
    if (atSeq) return { kind: 'lost', head: await this.head(entry.chain) };
    const same = await this.byOnceKey(entry.once_key);
    if (same) return { kind: 'repeated', entry: same };
    return { kind: 'lost', head: await this.head(entry.chain) };
  }

  /** From a seq that exists: doubling steps until one is missing, then bisect. */
  private async searchForward(chain: string, from: LedgerHead): Promise<LedgerHead> {
    let low = from;
    let step = 1;
    let high: number;
    for (;;) {
      const entry = await this.entries.findOne({ _id: entryId(chain, low.seq + step) });
      if (!entry) {
        high = low.seq + step;
        break;
      }
      low = headOf(entry);
      step *= 2;
    }
    while (high - low.seq > 1) {
      const middle = Math.floor((low.seq + high) / 2);
      const entry = await this.entries.findOne({ _id: entryId(chain, middle) });
      if (entry) low = headOf(entry);
      else high = middle;
    }
    return low;
  }

  private remember(chain: string, head: LedgerHead): void {
    this.hints.delete(chain);
    this.hints.set(chain, head);
    if (this.hints.size > maxHints) {
      const oldest = this.hints.keys().next();
      if (!oldest.done) this.hints.delete(oldest.value);
    }
  }
}

function newEntry(
  chain: UsageChain,
  id: string,
  seq: number,
  facts: EntryFacts,
  plan: Extract<ChainPlan, { kind: 'write' }>,
  recordedAt: Date,
): UsageEntryDoc {
  return {
    _id: entryId(id, seq),
    chain: id,
    seq,
    project_id: chain.projectId,
    customer_id: chain.customerId,
    feature: chain.feature,
    kind: facts.kind,
    op_id: facts.opId,
    amount: plan.amount,
    period_end: plan.periodEnd,
    usage_id: facts.usageId,
    reservation_id: facts.reservationId,
    idempotency_key: facts.idempotencyKey,
    once_key: facts.onceKey ?? `${id}:${facts.kind}:${facts.opId}`,
    request: facts.request ?? null,
    expires_at: facts.expiresAt ?? null,
    occurred_at: facts.occurredAt,
    recorded_at: recordedAt,
    allocation: allocationDoc(plan.allocation),
    state: stateDoc(plan.state),
  };
}

/** Each pending append's plan on the state the ones before it leave, from `head`. */
function decide(
  chain: UsageChain,
  id: string,
  head: LedgerHead,
  batch: readonly PendingAppend[],
  recordedAt: Date,
): Decision[] {
  let state = head.state;
  let seq = head.seq;
  return batch.flatMap((pending): Decision[] => {
    let facts: EntryFacts;
    let decided: ChainPlan;
    try {
      facts = typeof pending.facts === 'function' ? pending.facts(seq + 1) : pending.facts;
      decided = pending.plan(state, seq + 1);
    } catch (error) {
      // A plan is pure: its failure is its caller's alone.
      pending.fail(error);
      return [];
    }
    if (decided.kind === 'refuse') return [{ pending, facts, refusal: decided }];
    seq += 1;
    state = decided.state;
    return [{ pending, entry: newEntry(chain, id, seq, facts, decided, recordedAt) }];
  });
}

/** True when the first decision is a refusal: no inserted entry verifies the head it was planned on. */
function refusesBeforeAnyEntry(decisions: readonly Decision[]): boolean {
  const first = decisions[0];
  return first !== undefined && 'refusal' in first;
}

/**
 * Inserts `entries` in order and answers how many were inserted: all of
 * them, or those before the first that a unique index refused (an ordered
 * insert stops there). Other errors throw.
 */
async function insertInOrder(
  collection: Collection<UsageEntryDoc>,
  entries: readonly UsageEntryDoc[],
): Promise<number> {
  if (entries.length === 0) return 0;
  try {
    await collection.insertMany([...entries], { ordered: true });
    return entries.length;
  } catch (err) {
    const index = duplicateIndexOf(err);
    if (index === undefined) throw err;
    return index;
  }
}

/** The index of the entry a unique index refused, if that is what `err` is. */
function duplicateIndexOf(err: unknown): number | undefined {
  if (!(err instanceof MongoBulkWriteError)) return undefined;
  const first = [err.writeErrors].flat()[0];
  return first?.code === 11000 ? first.index : undefined;
}
