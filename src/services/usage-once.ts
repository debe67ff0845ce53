/**
 * Applies a usage once per (project, idempotency key), on any replica and
 * also concurrently: the caller whose claim insert wins appends; the others
 * wait for the claim to complete and answer its usage id. A claim whose
 * owner crashed (lease over) is taken over by one caller, who first probes
 * the ledger after the head seen at claim time for the crashed attempt's
 * entry, so a usage that was appended is not appended twice. ReserveUsage
 * (its hold) and the end of a reservation (commit or release, one claim per
 * reservation) go through it as well.
 */

import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConflictError, InvalidInputError } from '../domain/errors.js';
import type { UsageClaimDoc, UsageClaimStore } from '../store/usage-claim-store.js';
import type { AppendOutcome } from '../store/usage-ledger-store.js';

/** What UsageOnce reads of the ledger (UsageLedgerStore satisfies it). */
export interface OnceLedger {
  head(chain: string): Promise<{ readonly seq: number }>;
  /** The entry written for `opId` after `afterSeq`, if any. */
  findUsage(
    chain: string,
    afterSeq: number,
    opId: string,
  ): Promise<{ readonly _id: string } | null>;
}

export interface UsageOnceDeps {
  readonly claims: Pick<UsageClaimStore, 'claim' | 'get' | 'complete' | 'release' | 'takeOver'>;
  readonly ledger: OnceLedger;
  /** How long a claim is its owner's before another call may take it over. */
  readonly leaseMs: number;
  /** How long a second call waits for the first to finish before answering ABORTED. */
  readonly waitMs: number;
  readonly now: () => Date;
}

export interface OnceRequest {
  readonly claimId: string;
  readonly projectId: string;
  readonly idempotencyKey: string;
  /** What was asked: the same key with another request is refused. */
  readonly fingerprint: string;
  /** The ledger chain the work appends to. */
  readonly chain: string;
  /** The prefix of the id made for the work; default `usg`. */
  readonly idPrefix?: 'usg' | 'rsv';
  /** What a call with the same claim and another fingerprint answers; default INVALID_ARGUMENT. */
  readonly mismatch?: () => Error;
}

/** What the work answered: the usage was appended, or refused (nothing recorded). */
export type OnceOutcome = AppendOutcome;

export type Applied = { readonly kind: 'applied'; readonly usageId: string };
type Refused = Extract<OnceOutcome, { kind: 'refused' }>;

const pollMs = 10;

/** Our id of a usage (`usg_...`) or a reservation (`rsv_...`). */
export function newOperationId(prefix: 'usg' | 'rsv'): string {
  return `${prefix}_${randomUUID().replaceAll('-', '')}`;
}

export class UsageOnce {
  constructor(private readonly deps: UsageOnceDeps) {}

  /** `append(usageId)` runs at most once per key; refusals release the key. */
  async apply(
    request: OnceRequest,
    append: (usageId: string) => Promise<OnceOutcome>,
  ): Promise<Applied | Refused> {
    const owner = randomUUID();
    const deadline = this.deps.now().getTime() + this.deps.waitMs;
    while (this.deps.now().getTime() < deadline) {
      const head = await this.deps.ledger.head(request.chain);
      const doc = this.newClaim(request, owner, head.seq);
      const claim = await this.deps.claims.claim(doc);
      if (claim === 'claimed') return this.run(doc, append);
      // The claim went between our insert and read (a refusal released it): claim again.
      if (claim === null) continue;
      if (claim.request !== request.fingerprint) {
        if (request.mismatch) throw request.mismatch();
        throw new InvalidInputError('idempotency_key was used for another usage', {
          field: 'idempotency_key',
        });
      }
      const settled = await this.waitForClaim(claim, owner, deadline, append);
      if (settled) return settled;
    }
    throw new ConflictError('another call with this idempotency_key is still in progress; retry');
  }

  private newClaim(request: OnceRequest, owner: string, headSeq: number): UsageClaimDoc {
    const now = this.deps.now();
    return {
      _id: request.claimId,
      project_id: request.projectId,
      idempotency_key: request.idempotencyKey,
      request: request.fingerprint,
      usage_id: newOperationId(request.idPrefix ?? 'usg'),
      chain: request.chain,
      head_seq: headSeq,
      owner,
      generation: 0,
      lease_until: new Date(now.getTime() + this.deps.leaseMs),
      state: 'pending',
      entry_id: null,
      created_at: now,
      completed_at: null,
    };
  }

  private async run(
    claim: UsageClaimDoc,
    append: (usageId: string) => Promise<OnceOutcome>,
  ): Promise<Applied | Refused> {
    // An error leaves the claim pending: the append may have happened, and a
    // retry after the lease finds out by probing the ledger.
    const outcome = await append(claim.usage_id);
    if (outcome.kind === 'refused') {
      await this.deps.claims.release(claim._id, claim.owner);
      return outcome;
    }
    await this.deps.claims.complete(claim._id, claim.owner, outcome.entry._id, this.deps.now());
    return { kind: 'applied', usageId: claim.usage_id };
  }

  /** Undefined: the claim went away (released); claim again. */
  private async waitForClaim(
    first: UsageClaimDoc,
    owner: string,
    deadline: number,
    append: (usageId: string) => Promise<OnceOutcome>,
  ): Promise<Applied | Refused | undefined> {
    let claim: UsageClaimDoc | null = first;
    while (claim && this.deps.now().getTime() < deadline) {
      if (claim.state === 'done') return { kind: 'applied', usageId: claim.usage_id };
      if (claim.lease_until.getTime() <= this.deps.now().getTime()) {
        return this.takeOver(claim, owner, append);
      }
      await sleep(pollMs);
      claim = await this.deps.claims.get(first._id);
    }
    if (claim)
      throw new ConflictError('another call with this idempotency_key is still in progress; retry');
    return undefined;
  }

  private async takeOver(
    claim: UsageClaimDoc,
    owner: string,
    append: (usageId: string) => Promise<OnceOutcome>,
  ): Promise<Applied | Refused | undefined> {
    const leaseUntil = new Date(this.deps.now().getTime() + this.deps.leaseMs);
    if (!(await this.deps.claims.takeOver(claim, owner, leaseUntil, this.deps.now()))) {
      return undefined;
    }
    const mine = { ...claim, owner, generation: claim.generation + 1, lease_until: leaseUntil };
    const written = await this.deps.ledger.findUsage(claim.chain, claim.head_seq, claim.usage_id);
    if (written) {
      await this.deps.claims.complete(claim._id, owner, written._id, this.deps.now());
      return { kind: 'applied', usageId: claim.usage_id };
    }
    return this.run(mine, append);
  }
}
