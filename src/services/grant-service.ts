/** Manual grants by operators: stored, audited, and pushed to every cache. */
import { randomBytes } from 'node:crypto';
import { NotFoundError } from '../domain/errors.js';
import type { AuditLogStore } from '../store/audit-log-store.js';
import type { GrantDoc } from '../store/documents.js';
import type { GrantQuery, GrantStore } from '../store/grant-store.js';
import type { EntitlementChangeNotifier } from './entitlement-change-notifier.js';

export interface GrantInput {
  readonly projectId: string;
  readonly customerId: string;
  readonly feature: string;
  readonly limit: number | null;
  readonly expiresAt: Date | null;
  readonly actor: string;
  readonly reason: string;
}

export class GrantService {
  constructor(
    private readonly grants: GrantStore,
    private readonly audit: AuditLogStore,
    private readonly notifier: EntitlementChangeNotifier,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async grant(input: GrantInput): Promise<GrantDoc> {
    const time = this.now();
    const grant = await this.grants.create({
      // Time-ordered ids: listing by id lists by creation.
      _id: `gr_${time.getTime().toString(36).padStart(9, '0')}${randomBytes(6).toString('hex')}`,
      project_id: input.projectId,
      customer_id: input.customerId,
      feature: input.feature,
      limit: input.limit,
      expires_at: input.expiresAt,
      reason: input.reason,
      actor: input.actor,
      created_at: time,
      revoked_at: null,
      revoked_by: null,
      revoke_reason: null,
    });
    await this.audit.append({
      projectId: input.projectId,
      actor: input.actor,
      action: 'grant.create',
      target: `grant:${grant._id}`,
      before: null,
      after: describeGrant(grant),
      reason: input.reason,
      time,
    });
    await this.notifier.customersChanged(input.projectId, [input.customerId], {
      kind: 'grant',
      id: grant._id,
      actor: input.actor,
      reason: input.reason,
    });
    return grant;
  }

  /** NotFoundError when the project has no such grant. */
  async revoke(
    projectId: string,
    grantId: string,
    actor: string,
    reason: string,
  ): Promise<GrantDoc> {
    const before = await this.grants.get(projectId, grantId);
    if (!before) throw new NotFoundError(`grant ${grantId}`);
    if (before.revoked_at !== null) return before;
    const time = this.now();
    const after = (await this.grants.revoke(projectId, grantId, actor, reason, time)) ?? before;
    await this.audit.append({
      projectId,
      actor,
      action: 'grant.revoke',
      target: `grant:${grantId}`,
      before: describeGrant(before),
      after: describeGrant(after),
      reason,
      time,
    });
    await this.notifier.customersChanged(projectId, [before.customer_id], {
      kind: 'revoke',
      id: grantId,
      actor,
      reason,
    });
    return after;
  }

  async list(projectId: string, query: GrantQuery): Promise<GrantDoc[]> {
    return this.grants.list(projectId, query);
  }
}

function describeGrant(grant: GrantDoc): Record<string, unknown> {
  const { _id, project_id, ...rest } = grant;
  return { id: _id, ...rest };
}
