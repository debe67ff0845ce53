/**
 * UsageOnce with in-memory fakes of the claim store and the ledger: a key
 * is applied once; a refusal releases it; a crashed owner's claim is taken
 * over after its lease, and an append the crashed attempt made is found,
 * not repeated.
 */
import test from 'ava';
import { isInvalidInputError } from '../../src/domain/errors.js';
import { UsageOnce } from '../../src/services/usage-once.js';
import type { UsageClaimDoc } from '../../src/store/usage-claim-store.js';
import type { AppendOutcome, UsageEntryDoc } from '../../src/store/usage-ledger-store.js';

class FakeClaims {
  readonly docs = new Map<string, UsageClaimDoc>();
  private readonly takeovers = new Set<string>();
  async claim(doc: UsageClaimDoc): Promise<'claimed' | UsageClaimDoc | null> {
    const existing = this.docs.get(doc._id);
    if (existing) return existing;
    this.docs.set(doc._id, doc);
    return 'claimed';
  }
  async get(id: string) {
    return this.docs.get(id) ?? null;
  }
  async complete(id: string, owner: string, entryId: string, now: Date) {
    const doc = this.docs.get(id);
    if (doc && doc.owner === owner)
      this.docs.set(id, { ...doc, state: 'done', entry_id: entryId, completed_at: now });
  }
  async release(id: string, owner: string) {
    if (this.docs.get(id)?.owner === owner) this.docs.delete(id);
  }
  async takeOver(claim: UsageClaimDoc, owner: string, leaseUntil: Date) {
    const marker = `${claim._id}#${claim.generation + 1}`;
    if (this.takeovers.has(marker)) return false;
    this.takeovers.add(marker);
    this.docs.set(claim._id, {
      ...claim,
      owner,
      generation: claim.generation + 1,
      lease_until: leaseUntil,
    });
    return true;
  }
}

class FakeLedger {
  readonly entries: UsageEntryDoc[] = [];
  async head() {
    return { seq: this.entries.length };
  }
  async findUsage(_chain: string, afterSeq: number, usageId: string) {
    return this.entries.slice(afterSeq).find((e) => e.op_id === usageId) ?? null;
  }
  append(amount: number) {
    return async (usageId: string): Promise<AppendOutcome> => {
      const head = await this.head();
      const at = new Date(0);
      const entry: UsageEntryDoc = {
        _id: `b:${head.seq + 1}`,
        chain: 'b',
        seq: head.seq + 1,
        project_id: 'p',
        customer_id: 'c',
        feature: 'f',
        kind: 'usage',
        op_id: usageId,
        amount,
        period_end: at,
        usage_id: usageId,
        reservation_id: null,
        idempotency_key: 'k',
        once_key: `b:usage:${usageId}`,
        request: null,
        occurred_at: at,
        recorded_at: at,
        allocation: null,
        state: { periods: [], holds: [], credits_used: [] },
      };
      this.entries.push(entry);
      return { kind: 'appended', entry, repeated: false };
    };
  }
}

function world(clock = { ms: Date.parse('2026-06-01T00:00:00Z') }) {
  const claims = new FakeClaims();
  const ledger = new FakeLedger();
  const once = new UsageOnce({
    claims,
    ledger,
    leaseMs: 10_000,
    waitMs: 60_000,
    now: () => new Date(clock.ms),
  });
  return { claims, ledger, once, clock };
}

const request = (key: string, fingerprint = 'same') => ({
  claimId: `p:${key}`,
  projectId: 'p',
  idempotencyKey: key,
  fingerprint,
  chain: 'b',
});

test('the same key is applied once and answers the same usage id', async (t) => {
  const { once, ledger } = world();
  const first = await once.apply(request('k'), ledger.append(5));
  const again = await once.apply(request('k'), ledger.append(5));
  t.deepEqual(again, first);
  t.is(ledger.entries.length, 1);
});

test('the same key with another request is refused', async (t) => {
  const { once, ledger } = world();
  await once.apply(request('k'), ledger.append(5));
  const error = await t.throwsAsync(once.apply(request('k', 'other'), ledger.append(6)));
  t.true(isInvalidInputError(error));
  t.is(ledger.entries.length, 1);
});

test('a refusal releases the key: nothing is recorded and the key may be used again', async (t) => {
  const { once, ledger, claims } = world();
  const refused = await once.apply(request('k'), async () => ({
    kind: 'refused',
    reason: 'balance',
    balance: 99,
  }));
  t.deepEqual(refused, { kind: 'refused', reason: 'balance', balance: 99 });
  t.is(claims.docs.size, 0);
  t.is((await once.apply(request('k'), ledger.append(1))).kind, 'applied');
  t.is(ledger.entries.length, 1);
});

test('a crashed owner that appended: the take-over finds its entry and does not append again', async (t) => {
  const { once, ledger, claims, clock } = world();
  // The first call claims and appends, then "crashes" before completing the claim.
  const crashed = once.apply(request('k'), async (usageId) => {
    await ledger.append(5)(usageId);
    throw new Error('process died');
  });
  await t.throwsAsync(crashed);
  t.is([...claims.docs.values()][0]?.state, 'pending');
  clock.ms += 10_001;
  const retry = await once.apply(request('k'), ledger.append(5));
  t.is(ledger.entries.length, 1);
  t.deepEqual(retry, { kind: 'applied', usageId: ledger.entries[0]?.usage_id ?? '' });
  t.is([...claims.docs.values()][0]?.state, 'done');
});

test('a crashed owner that did not append: the take-over appends once', async (t) => {
  const { once, ledger, clock } = world();
  await t.throwsAsync(
    once.apply(request('k'), async () => {
      throw new Error('process died before the append');
    }),
  );
  clock.ms += 10_001;
  t.is((await once.apply(request('k'), ledger.append(5))).kind, 'applied');
  t.is(ledger.entries.length, 1);
});
