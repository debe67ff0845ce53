import type { Collection, Db } from 'mongodb';
import type { CatalogEntryDoc, ProjectDoc } from './documents.js';

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

  constructor(db: Db) {
    this.projects = db.collection<ProjectDoc>('projects');
  }

  async create(project: NewProject): Promise<ProjectDoc> {
    const doc: ProjectDoc = {
      _id: project.id,
      name: project.name,
      stripe_secret_key: project.stripeSecretKey,
      webhook_signing_secret: project.webhookSigningSecret,
      grace_period_seconds: project.gracePeriodSeconds,
      catalog: [],
      created_at: project.now,
      updated_at: project.now,
    };
    await this.projects.insertOne(doc);
    return doc;
  }

  async get(projectId: string): Promise<ProjectDoc | null> {
    return this.projects.findOne({ _id: projectId });
  }

  async setCatalog(
    projectId: string,
    catalog: CatalogEntryDoc[],
    now: Date,
  ): Promise<ProjectDoc | null> {
    return this.projects.findOneAndUpdate(
      { _id: projectId },
      { $set: { catalog, updated_at: now } },
      { returnDocument: 'after' },
    );
  }

  async update(projectId: string, changes: ProjectChanges, now: Date): Promise<ProjectDoc | null> {
    const set: Partial<ProjectDoc> = { updated_at: now };
    if (changes.name !== undefined) set.name = changes.name;
    if (changes.gracePeriodSeconds !== undefined)
      set.grace_period_seconds = changes.gracePeriodSeconds;
    if (changes.stripeSecretKey !== undefined) set.stripe_secret_key = changes.stripeSecretKey;
    if (changes.webhookSigningSecret !== undefined)
      set.webhook_signing_secret = changes.webhookSigningSecret;
    return this.projects.findOneAndUpdate(
      { _id: projectId },
      { $set: set },
      { returnDocument: 'after' },
    );
  }

  async listIds(): Promise<string[]> {
    const docs = await this.projects.find({}, { projection: { _id: 1 } }).toArray();
    return docs.map((doc) => doc._id);
  }
}

export interface ProjectChanges {
  readonly name?: string;
  readonly gracePeriodSeconds?: number;
  readonly stripeSecretKey?: string;
  readonly webhookSigningSecret?: string;
}
