/** Creating a project together with its first admin API key. */
import { randomBytes } from 'node:crypto';
import { NotFoundError } from '../domain/errors.js';
import type { AuditLogStore } from '../store/audit-log-store.js';
import type { CatalogEntryDoc, ProjectDoc } from '../store/documents.js';
import type { ProjectChanges, ProjectStore } from '../store/project-store.js';
import type { ApiKeyService, CreatedApiKey } from './api-key-service.js';
import type { ProjectTermsChange } from './timeline-recorder.js';

export interface CreateProjectInput {
  readonly name: string;
  readonly stripeSecretKey: string | null;
  readonly webhookSigningSecret: string | null;
  readonly gracePeriodSeconds: number;
  readonly actor: string;
  readonly reason: string;
}

export interface CreatedProject {
  readonly project: ProjectDoc;
  readonly adminKey: CreatedApiKey;
}

export const defaultGracePeriodSeconds = 3 * 24 * 3600;

/** Who is told that a project's settings changed (the EntitlementChangeNotifier). */
export interface ProjectChangeNotice {
  /**
   * Every replica drops its copy of the project; change feeds say so; the
   * project's timeline keeps a change of the catalog or grace period.
   */
  projectChanged(projectId: string, change: ProjectTermsChange): Promise<void>;
}

export class ProjectService {
  constructor(
    private readonly projects: ProjectStore,
    private readonly apiKeys: ApiKeyService,
    private readonly audit: AuditLogStore,
    private readonly changes: ProjectChangeNotice,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async create(input: CreateProjectInput): Promise<CreatedProject> {
    const time = this.now();
    const project = await this.projects.create({
      id: `proj_${randomBytes(8).toString('hex')}`,
      name: input.name,
      stripeSecretKey: input.stripeSecretKey,
      webhookSigningSecret: input.webhookSigningSecret,
      gracePeriodSeconds: input.gracePeriodSeconds,
      now: time,
    });
    await this.audit.append({
      projectId: project._id,
      actor: input.actor,
      action: 'project.create',
      target: `project:${project._id}`,
      before: null,
      after: {
        id: project._id,
        name: project.name,
        grace_period_seconds: project.grace_period_seconds,
      },
      reason: input.reason,
      time,
    });
    const adminKey = await this.apiKeys.create({
      projectId: project._id,
      name: 'initial admin key',
      scopes: ['admin', 'entitlements:read', 'checkout:write', 'usage:write'],
      actor: input.actor,
      reason: input.reason,
    });
    return { project, adminKey };
  }

  async get(projectId: string): Promise<ProjectDoc | null> {
    return this.projects.get(projectId);
  }

  /**
   * Replaces the catalog. Every replica drops its copy of the project at
   * once; cached entitlement sets follow within their memory TTL or at the
   * customer's next change.
   */
  async setCatalog(
    projectId: string,
    catalog: CatalogEntryDoc[],
    actor: string,
    reason: string,
  ): Promise<ProjectDoc> {
    const before = await this.projects.get(projectId);
    if (!before) throw new NotFoundError('project');
    const time = this.now();
    const after = (await this.projects.setCatalog(projectId, catalog, time)) ?? before;
    await this.changes.projectChanged(projectId, termsChange(before, after, actor, reason));
    await this.audit.append({
      projectId,
      actor,
      action: 'catalog.set',
      target: `project:${projectId}`,
      before: { catalog: before.catalog },
      after: { catalog: after.catalog },
      reason,
      time,
    });
    return after;
  }

  /** Name, grace period, Stripe key or webhook secret. Secrets never reach the audit log. */
  async update(
    projectId: string,
    changes: ProjectChanges,
    actor: string,
    reason: string,
  ): Promise<ProjectDoc> {
    const before = await this.projects.get(projectId);
    if (!before) throw new NotFoundError('project');
    const time = this.now();
    const after = (await this.projects.update(projectId, changes, time)) ?? before;
    await this.changes.projectChanged(projectId, termsChange(before, after, actor, reason));
    await this.audit.append({
      projectId,
      actor,
      action:
        changes.webhookSigningSecret !== undefined
          ? 'project.rotate_webhook_secret'
          : 'project.update',
      target: `project:${projectId}`,
      before: describeProject(before),
      after: describeProject(after),
      reason,
      time,
    });
    return after;
  }
}

/** What the audit log keeps of a project: never a secret, only whether it is set and its last four characters. */
function describeProject(project: ProjectDoc): Record<string, unknown> {
  return {
    id: project._id,
    name: project.name,
    grace_period_seconds: project.grace_period_seconds,
    stripe_secret_key_last4: project.stripe_secret_key ? project.stripe_secret_key.slice(-4) : null,
    webhook_signing_secret_last4: project.webhook_signing_secret
      ? project.webhook_signing_secret.slice(-4)
      : null,
  };
}

function termsChange(
  before: ProjectDoc,
  after: ProjectDoc,
  actor: string,
  reason: string,
): ProjectTermsChange {
  const terms = (project: ProjectDoc) => ({
    catalog: project.catalog,
    gracePeriodSeconds: project.grace_period_seconds,
  });
  return { actor, reason, before: terms(before), after: terms(after) };
}
