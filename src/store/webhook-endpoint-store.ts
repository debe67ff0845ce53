/**
 * Products' webhook endpoints (`webhook_endpoints`), per project. The
 * signing secret is sealed (AES-256-GCM, domain/secret-box.ts) with the
 * endpoint's id as associated data, so a sealed secret copied onto another
 * endpoint does not open; everything above sees it open. A deleted
 * endpoint stays (the delivery log names it), marked `deleted_at`.
 */
import type { Collection, Db } from 'mongodb';
import type { WebhookEndpointRecord } from '../domain/records.js';
import type { SecretBox } from '../domain/secret-box.js';

export interface WebhookEndpointChanges {
  readonly url?: string;
  readonly eventTypes?: readonly string[];
  readonly description?: string;
}

export class WebhookEndpointStore {
  private readonly endpoints: Collection<WebhookEndpointRecord>;

  constructor(
    db: Db,
    private readonly box: SecretBox,
  ) {
    this.endpoints = db.collection<WebhookEndpointRecord>('webhook_endpoints');
  }

  async insert(endpoint: WebhookEndpointRecord): Promise<void> {
    await this.endpoints.insertOne({
      ...endpoint,
      secret: this.seal(endpoint._id, endpoint.secret),
    });
  }

  /** Oldest first; the project's own only. */
  async list(projectId: string, includeDeleted: boolean): Promise<WebhookEndpointRecord[]> {
    const docs = await this.endpoints
      .find(
        includeDeleted ? { project_id: projectId } : { project_id: projectId, deleted_at: null },
      )
      .sort({ created_at: 1, _id: 1 })
      .toArray();
    return docs.map((doc) => this.opened(doc));
  }

  /** Null for an unknown id and for another project's endpoint alike. */
  async get(projectId: string, endpointId: string): Promise<WebhookEndpointRecord | null> {
    const doc = await this.endpoints.findOne({ _id: endpointId });
    return doc && doc.project_id === projectId ? this.opened(doc) : null;
  }

  /** Null when there is no such live endpoint of the project. */
  async update(
    projectId: string,
    endpointId: string,
    changes: WebhookEndpointChanges,
    now: Date,
  ): Promise<WebhookEndpointRecord | null> {
    const set: Partial<WebhookEndpointRecord> = { updated_at: now };
    if (changes.url !== undefined) set.url = changes.url;
    if (changes.eventTypes !== undefined) set.event_types = [...changes.eventTypes];
    if (changes.description !== undefined) set.description = changes.description;
    return this.setLive(projectId, endpointId, set);
  }

  /** Null when there is no such live endpoint of the project (deleted twice: null). */
  async markDeleted(
    projectId: string,
    endpointId: string,
    now: Date,
  ): Promise<WebhookEndpointRecord | null> {
    return this.setLive(projectId, endpointId, { deleted_at: now, updated_at: now });
  }

  private async setLive(
    projectId: string,
    endpointId: string,
    set: Partial<WebhookEndpointRecord>,
  ): Promise<WebhookEndpointRecord | null> {
    const doc = await this.endpoints.findOneAndUpdate(
      { _id: endpointId, project_id: projectId, deleted_at: null },
      { $set: set },
      { returnDocument: 'after' },
    );
    return doc ? this.opened(doc) : null;
  }

  private seal(endpointId: string, secret: string): string {
    return this.box.seal(secret, secretContext(endpointId));
  }

  private opened(doc: WebhookEndpointRecord): WebhookEndpointRecord {
    return { ...doc, secret: this.box.openText(doc.secret, secretContext(doc._id)) };
  }
}

function secretContext(endpointId: string): string {
  return `webhook_endpoints/${endpointId}/secret`;
}
