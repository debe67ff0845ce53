/**
 * Credits of metered features: operators grant and revoke them (audited,
 * pushed to every cache and stream); ListCredits shows granted and bought
 * lots with what is left of each. Credit packs are not granted here: a paid
 * one-time checkout gives them and a refund ends them (domain/credits.ts).
 */
import { randomBytes } from 'node:crypto';
import { catalogFromEntries } from '../domain/catalog.js';
import {
  type CreditLotFacts,
  type CreditLotView,
  isPackLotId,
  remainingOf,
} from '../domain/credits.js';
import { FailedPreconditionError, NotFoundError } from '../domain/errors.js';
import { meteredKindOf } from '../domain/usage-balance.js';
import type { AuditLogStore } from '../store/audit-log-store.js';
import type { CreditGrantStore } from '../store/credit-grant-store.js';
import type { CreditGrantDoc } from '../store/documents.js';
import type { EntitlementChangeNotifier } from './entitlement-change-notifier.js';
import { creditGrantFacts } from './entitlement-facts.js';
import type { EntitlementLookupService } from './entitlement-lookup-service.js';
import type { ProjectCache } from './project-cache.js';

/**
 * How much of each lot the usage ledger has drawn, by lot id, for one
 * customer's feature.
 */
export interface CreditUsage {
  usedOf(
    projectId: string,
    customerId: string,
    feature: string,
  ): Promise<ReadonlyMap<string, number>>;
}

export interface CreditServiceDeps {
  readonly credits: Pick<CreditGrantStore, 'create' | 'get' | 'revoke' | 'listForCustomer'>;
  /** The project's catalog: is the feature metered? */
  readonly projects: Pick<ProjectCache, 'get'>;
  /** The engine's inputs: the customer's pack lots come with them. */
  readonly lookup: Pick<EntitlementLookupService, 'loadInputs'>;
  readonly audit: Pick<AuditLogStore, 'append'>;
  readonly changes: Pick<EntitlementChangeNotifier, 'customersChanged'>;
  /** What the usage ledger drew from each lot (UsageLedgerStore satisfies it). */
  readonly usage: CreditUsage;
  readonly now?: () => Date;
}

export interface CreditGrantInput {
  readonly projectId: string;
  readonly customerId: string;
  readonly feature: string;
  readonly amount: number;
  readonly expiresAt: Date | null;
  readonly actor: string;
  readonly reason: string;
}

export interface CreditQuery {
  readonly customerId: string;
  readonly feature?: string;
  /** Also used up, expired, revoked and refunded lots. */
  readonly includeEnded: boolean;
  /** Continue after this lot id (lots sort by id). */
  readonly after?: string;
  readonly limit: number;
}

export class CreditService {
  private readonly now: () => Date;

  constructor(private readonly deps: CreditServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** NotFoundError: not in the catalog; FailedPreconditionError: not metered. */
  async grant(input: CreditGrantInput): Promise<CreditLotView> {
    await this.requireMetered(input.projectId, input.feature);
    const time = this.now();
    const grant = await this.deps.credits.create({
      // Time-ordered ids: listing by id lists by creation.
      _id: `crd_${time.getTime().toString(36).padStart(9, '0')}${randomBytes(6).toString('hex')}`,
      project_id: input.projectId,
      customer_id: input.customerId,
      feature: input.feature,
      amount: input.amount,
      expires_at: input.expiresAt,
      reason: input.reason,
      actor: input.actor,
      created_at: time,
      revoked_at: null,
      revoked_by: null,
      revoke_reason: null,
    });
    await this.audited(
      { action: 'credit.grant', actor: input.actor, before: null, after: grant },
      input.reason,
      time,
    );
    await this.deps.changes.customersChanged(input.projectId, [input.customerId], {
      kind: 'credit_grant',
      id: grant._id,
      actor: input.actor,
      reason: input.reason,
    });
    return this.viewOf(grant, time);
  }

  /**
   * NotFoundError when the project has no such grant; a pack lot is
   * FailedPreconditionError (a refund ends it). Revoking again answers the
   * lot as first revoked.
   */
  async revoke(
    projectId: string,
    creditId: string,
    actor: string,
    reason: string,
  ): Promise<CreditLotView> {
    if (isPackLotId(creditId))
      throw new FailedPreconditionError(
        `${creditId} is a credit pack bought in a checkout: refund the purchase instead`,
      );
    const before = await this.deps.credits.get(projectId, creditId);
    if (!before) throw new NotFoundError(`credit ${creditId}`);
    if (before.revoked_at !== null) return this.viewOf(before, this.now());
    const time = this.now();
    const outcome = await this.deps.credits.revoke(before, { by: actor, reason, at: time });
    const after = (await this.deps.credits.get(projectId, creditId)) ?? before;
    // 'exists': a concurrent call revoked it first, and audited and notified it.
    if (outcome === 'inserted') {
      await this.audited({ action: 'credit.revoke', actor, before, after }, reason, time);
      await this.deps.changes.customersChanged(projectId, [before.customer_id], {
        kind: 'credit_revoke',
        id: creditId,
        actor,
        reason,
      });
    }
    return this.viewOf(after, time);
  }

  /** A customer's lots, granted and bought, sorted by id. */
  async list(projectId: string, query: CreditQuery): Promise<CreditLotView[]> {
    const now = this.now();
    const [grants, inputs] = await Promise.all([
      this.deps.credits.listForCustomer(projectId, query.customerId),
      this.deps.lookup.loadInputs(projectId, query.customerId, now),
    ]);
    const lots: { lot: CreditLotFacts; grant?: CreditGrantDoc }[] = [
      ...grants.map((grant) => ({ lot: creditGrantFacts(grant), grant })),
      ...inputs.credits.filter((lot) => lot.source === 'pack').map((lot) => ({ lot })),
    ].filter(({ lot }) => query.feature === undefined || lot.feature === query.feature);
    const used = await this.usedByLot(
      projectId,
      query.customerId,
      lots.map(({ lot }) => lot),
    );
    return lots
      .map(({ lot, grant }) => lotView(lot, query.customerId, used.get(lot.id) ?? 0, now, grant))
      .filter((view) => query.includeEnded || view.remaining > 0)
      .filter((view) => query.after === undefined || view.lot.id > query.after)
      .sort((a, b) => (a.lot.id < b.lot.id ? -1 : a.lot.id > b.lot.id ? 1 : 0))
      .slice(0, query.limit);
  }

  private async requireMetered(projectId: string, feature: string): Promise<void> {
    const project = await this.deps.projects.get(projectId);
    const kind = meteredKindOf(catalogFromEntries(project?.catalog ?? []), feature);
    if (kind.kind === 'unknown') throw new NotFoundError(`feature ${feature} in the catalog`);
    if (kind.kind === 'not_metered')
      throw new FailedPreconditionError(
        `feature ${feature} is not metered in the catalog: credits are for metered features`,
      );
  }

  private async usedByLot(
    projectId: string,
    customerId: string,
    lots: readonly CreditLotFacts[],
  ): Promise<ReadonlyMap<string, number>> {
    const features = [...new Set(lots.map((lot) => lot.feature))];
    const maps = await Promise.all(
      features.map((f) => this.deps.usage.usedOf(projectId, customerId, f)),
    );
    return new Map(maps.flatMap((map) => [...map]));
  }

  private async viewOf(grant: CreditGrantDoc, now: Date): Promise<CreditLotView> {
    const lot = creditGrantFacts(grant);
    const used = await this.usedByLot(grant.project_id, grant.customer_id, [lot]);
    return lotView(lot, grant.customer_id, used.get(lot.id) ?? 0, now, grant);
  }

  private async audited(change: CreditChange, reason: string, time: Date): Promise<void> {
    await this.deps.audit.append({
      projectId: change.after.project_id,
      actor: change.actor,
      action: change.action,
      target: `credit:${change.after._id}`,
      before: change.before && describeGrant(change.before),
      after: describeGrant(change.after),
      reason,
      time,
    });
  }
}

interface CreditChange {
  readonly action: 'credit.grant' | 'credit.revoke';
  readonly actor: string;
  readonly before: CreditGrantDoc | null;
  readonly after: CreditGrantDoc;
}

function lotView(
  lot: CreditLotFacts,
  customerId: string,
  used: number,
  now: Date,
  grant?: CreditGrantDoc,
): CreditLotView {
  return {
    lot,
    customerId,
    remaining: remainingOf(lot, used, now),
    reason: grant?.reason ?? '',
    actor: grant?.actor ?? '',
    revokedBy: grant?.revoked_by ?? '',
    revokeReason: grant?.revoke_reason ?? '',
  };
}

function describeGrant(grant: CreditGrantDoc): Record<string, unknown> {
  const { _id, project_id, ...rest } = grant;
  return { id: _id, ...rest };
}
