/**
 * Projects. The Stripe secret key and the webhook signing secret are sealed
 * (AES-256-GCM, see domain/secret-box.ts) on every write and opened on every
 * read: the collection never holds them in plain text, and every caller
 * above sees a ProjectDoc with them open.
 */
import type { Collection, Db } from 'mongodb';
import {
  isSealed,
  isSecretOpenError,
  type SecretBox,
  SecretOpenError,
  sealedKeyId,
} from '../domain/secret-box.js';
import type { CatalogEntryDoc, ProjectDoc } from './documents.js';

type SecretField = 'stripe_secret_key' | 'webhook_signing_secret';
const secretFields: readonly SecretField[] = ['stripe_secret_key', 'webhook_signing_secret'];

/** What the start-up pass over stored secrets did. */
export interface SecretsPass {
  /** Plain-text values (written before sealing existed) now sealed. */
  readonly sealed: number;
  /** Values under an older master key now sealed under the first one. */
  readonly resealed: number;
}

export interface NewProject {
  readonly id: string;
  readonly name: string;
  readonly stripeSecretKey: string | null;
  readonly webhookSigningSecret: string | null;
  readonly gracePeriodSeconds: number;
  readonly now: Date;
}

export class ProjectStore {
  private readonly projects: Collection<ProjectDoc>;

  constructor(
    db: Db,
    private readonly box: SecretBox,
  ) {
    this.projects = db.collection<ProjectDoc>('projects');
  }

  async create(project: NewProject): Promise<ProjectDoc> {
    const open: ProjectDoc = {
      _id: project.id,
      name: project.name,
      stripe_secret_key: project.stripeSecretKey,
      webhook_signing_secret: project.webhookSigningSecret,
      grace_period_seconds: project.gracePeriodSeconds,
      catalog: [],
      created_at: project.now,
      updated_at: project.now,
    };
    await this.projects.insertOne({
      ...open,
      stripe_secret_key: this.seal(open._id, 'stripe_secret_key', open.stripe_secret_key),
      webhook_signing_secret: this.seal(
        open._id,
        'webhook_signing_secret',
        open.webhook_signing_secret,
      ),
    });
    return open;
  }

  async get(projectId: string): Promise<ProjectDoc | null> {
    return this.opened(await this.projects.findOne({ _id: projectId }));
  }

  async setCatalog(
    projectId: string,
    catalog: CatalogEntryDoc[],
    now: Date,
  ): Promise<ProjectDoc | null> {
    return this.opened(
      await this.projects.findOneAndUpdate(
        { _id: projectId },
        { $set: { catalog, updated_at: now } },
        { returnDocument: 'after' },
      ),
    );
  }

  async update(projectId: string, changes: ProjectChanges, now: Date): Promise<ProjectDoc | null> {
    const set: Partial<ProjectDoc> = { updated_at: now };
    if (changes.name !== undefined) set.name = changes.name;
    if (changes.gracePeriodSeconds !== undefined)
      set.grace_period_seconds = changes.gracePeriodSeconds;
    if (changes.stripeSecretKey !== undefined)
      set.stripe_secret_key = this.seal(projectId, 'stripe_secret_key', changes.stripeSecretKey);
    if (changes.webhookSigningSecret !== undefined)
      set.webhook_signing_secret = this.seal(
        projectId,
        'webhook_signing_secret',
        changes.webhookSigningSecret,
      );
    return this.opened(
      await this.projects.findOneAndUpdate(
        { _id: projectId },
        { $set: set },
        { returnDocument: 'after' },
      ),
    );
  }

  /**
   * Run at start, before serving: opens every stored secret (a wrong or
   * missing master key throws a SecretOpenError here, not at the first
   * webhook), seals plain-text values left by older versions, and re-seals
   * values under an older master key with the first one (rotation). Each
   * write is conditional on the value read, so a concurrent update or another
   * replica doing the same pass is never overwritten with an older secret.
   */
  async sealStoredSecrets(): Promise<SecretsPass> {
    let sealed = 0;
    let resealed = 0;
    for await (const doc of this.projects.find({})) {
      for (const field of secretFields) {
        const stored = doc[field];
        if (stored === null || stored === undefined) continue;
        const plain = isSealed(stored) ? this.openNamed(doc._id, field, stored) : stored;
        if (isSealed(stored) && sealedKeyId(stored) === this.box.primaryKeyId) continue;
        const result = await this.projects.updateOne(
          { _id: doc._id, [field]: stored },
          { $set: { [field]: this.seal(doc._id, field, plain) } },
        );
        if (result.modifiedCount === 1 && isSealed(stored)) resealed += 1;
        else if (result.modifiedCount === 1) sealed += 1;
      }
    }
    return { sealed, resealed };
  }

  private seal(projectId: string, field: SecretField, value: string): string;
  private seal(projectId: string, field: SecretField, value: string | null): string | null;
  private seal(projectId: string, field: SecretField, value: string | null): string | null {
    return value === null ? null : this.box.seal(value, secretContext(projectId, field));
  }

  private open(projectId: string, field: SecretField, stored: string): string {
    return this.box.openText(stored, secretContext(projectId, field));
  }

  /** The error names the project and field, for the operator reading why the start stopped. */
  private openNamed(projectId: string, field: SecretField, stored: string): string {
    try {
      return this.open(projectId, field, stored);
    } catch (err) {
      if (!isSecretOpenError(err)) throw err;
      throw new SecretOpenError(err.keyId, `${field} of project ${projectId}: ${err.message}`);
    }
  }

  private opened(doc: ProjectDoc | null): ProjectDoc | null {
    if (!doc) return null;
    const read = (field: SecretField): string | null => {
      const stored = doc[field];
      if (stored === null || stored === undefined) return null;
      // Plain text only until the start-up pass has sealed it.
      return isSealed(stored) ? this.open(doc._id, field, stored) : stored;
    };
    return {
      ...doc,
      stripe_secret_key: read('stripe_secret_key'),
      webhook_signing_secret: read('webhook_signing_secret'),
    };
  }

  async listIds(): Promise<string[]> {
    const docs = await this.projects.find({}, { projection: { _id: 1 } }).toArray();
    return docs.map((doc) => doc._id);
  }
}

function secretContext(projectId: string, field: SecretField): string {
  return `projects:${projectId}:${field}`;
}

export interface ProjectChanges {
  readonly name?: string;
  readonly gracePeriodSeconds?: number;
  readonly stripeSecretKey?: string;
  readonly webhookSigningSecret?: string;
}
