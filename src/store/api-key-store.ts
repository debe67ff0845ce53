import type { Collection, Db } from 'mongodb';
import type { ScopeName } from '../domain/api-keys.js';
import type { ApiKeyDoc } from './documents.js';

export interface NewApiKey {
  readonly keyId: string;
  readonly projectId: string;
  readonly name: string;
  readonly secretHash: string;
  readonly scopes: readonly ScopeName[];
  readonly createdBy: string;
  readonly now: Date;
}

export class ApiKeyStore {
  private readonly keys: Collection<ApiKeyDoc>;

  constructor(db: Db) {
    this.keys = db.collection<ApiKeyDoc>('api_keys');
  }

  async create(key: NewApiKey): Promise<ApiKeyDoc> {
    const doc: ApiKeyDoc = {
      _id: key.keyId,
      project_id: key.projectId,
      name: key.name,
      secret_hash: key.secretHash,
      scopes: [...key.scopes],
      created_at: key.now,
      created_by: key.createdBy,
      revoked_at: null,
      revoked_by: null,
    };
    await this.keys.insertOne(doc);
    return doc;
  }

  /** By _id: FerretDB answers it from the index (a find on secret_hash scans). */
  async findById(keyId: string): Promise<ApiKeyDoc | null> {
    return this.keys.findOne({ _id: keyId });
  }

  async get(projectId: string, keyId: string): Promise<ApiKeyDoc | null> {
    return this.keys.findOne({ _id: keyId, project_id: projectId });
  }

  async list(projectId: string, includeRevoked: boolean): Promise<ApiKeyDoc[]> {
    const filter = includeRevoked
      ? { project_id: projectId }
      : { project_id: projectId, revoked_at: null };
    return this.keys.find(filter).sort({ created_at: -1 }).toArray();
  }

  /** Revokes once: a second call returns the key as first revoked. */
  async revoke(
    projectId: string,
    keyId: string,
    revokedBy: string,
    now: Date,
  ): Promise<ApiKeyDoc | null> {
    const revoked = await this.keys.findOneAndUpdate(
      { _id: keyId, project_id: projectId, revoked_at: null },
      { $set: { revoked_at: now, revoked_by: revokedBy } },
      { returnDocument: 'after' },
    );
    return revoked ?? this.get(projectId, keyId);
  }
}
