/**
 * Creating and revoking API keys: the store write, the audit entry, and the
 * cache eviction on every replica, in that order.
 */
import { randomBytes } from 'node:crypto';
import type { InvalidationBus } from '../cache/invalidation-bus.js';
import {
  formatApiKey,
  hashApiKey,
  newApiKeyParts,
  platformProjectId,
  type ScopeName,
} from '../domain/api-keys.js';
import { NotFoundError } from '../domain/errors.js';
import type { ApiKeyStore } from '../store/api-key-store.js';
import type { AuditLogStore } from '../store/audit-log-store.js';
import type { ApiKeyDoc } from '../store/documents.js';

export interface CreateApiKeyInput {
  readonly projectId: string;
  readonly name: string;
  readonly scopes: readonly ScopeName[];
  readonly actor: string;
  readonly reason: string;
}

export interface CreatedApiKey {
  readonly key: ApiKeyDoc;
  /** The whole key: returned to the caller once, never stored. */
  readonly secret: string;
}

export class ApiKeyService {
  constructor(
    private readonly keys: ApiKeyStore,
    private readonly audit: AuditLogStore,
    private readonly bus: InvalidationBus,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async create(input: CreateApiKeyInput): Promise<CreatedApiKey> {
    const { keyId, secret } = newApiKeyParts(randomBytes);
    const apiKey = formatApiKey(keyId, secret);
    const time = this.now();
    const key = await this.keys.create({
      keyId,
      projectId: input.projectId,
      name: input.name,
      secretHash: hashApiKey(apiKey),
      scopes: input.scopes,
      createdBy: input.actor,
      now: time,
    });
    await this.audit.append({
      projectId: input.projectId,
      actor: input.actor,
      action: 'api_key.create',
      target: `api_key:${keyId}`,
      before: null,
      after: describeKey(key),
      reason: input.reason,
      time,
    });
    return { key, secret: apiKey };
  }

  /** A key that creates projects and does nothing else (see platformProjectId). */
  async createPlatformKey(name: string, actor: string, reason: string): Promise<CreatedApiKey> {
    return this.create({
      projectId: platformProjectId,
      name,
      scopes: ['platform:admin'],
      actor,
      reason,
    });
  }

  /** NotFoundError when the project has no such key. */
  async revoke(
    projectId: string,
    keyId: string,
    actor: string,
    reason: string,
  ): Promise<ApiKeyDoc> {
    const before = await this.keys.get(projectId, keyId);
    if (!before) throw new NotFoundError(`api key ${keyId}`);
    if (before.revoked_at !== null) return before;
    const time = this.now();
    const after = (await this.keys.revoke(projectId, keyId, actor, time)) ?? before;
    await this.bus.publish({ kind: 'api_key', secretHash: after.secret_hash });
    await this.audit.append({
      projectId,
      actor,
      action: 'api_key.revoke',
      target: `api_key:${keyId}`,
      before: describeKey(before),
      after: describeKey(after),
      reason,
      time,
    });
    return after;
  }

  async list(projectId: string, includeRevoked: boolean): Promise<ApiKeyDoc[]> {
    return this.keys.list(projectId, includeRevoked);
  }
}

/** What the audit log keeps of a key: never the hash. */
function describeKey(key: ApiKeyDoc): Record<string, unknown> {
  return { id: key._id, name: key.name, scopes: key.scopes, revoked_at: key.revoked_at };
}
