import { randomUUID } from 'node:crypto';
import type { Collection, Db } from 'mongodb';
import type { AuditEntryDoc } from './documents.js';

export interface AuditRecord {
  readonly projectId: string;
  readonly actor: string;
  readonly action: string;
  readonly target: string;
  readonly before: Record<string, unknown> | null;
  readonly after: Record<string, unknown> | null;
  readonly reason: string;
  readonly time: Date;
}

/** Append-only: entries are inserted, never updated or deleted. */
export class AuditLogStore {
  private readonly entries: Collection<AuditEntryDoc>;

  constructor(db: Db) {
    this.entries = db.collection<AuditEntryDoc>('audit_log');
  }

  async append(record: AuditRecord): Promise<AuditEntryDoc> {
    const doc: AuditEntryDoc = {
      _id: randomUUID(),
      project_id: record.projectId,
      actor: record.actor,
      action: record.action,
      target: record.target,
      before: record.before,
      after: record.after,
      reason: record.reason,
      time: record.time,
    };
    await this.entries.insertOne(doc);
    return doc;
  }

  async listRecent(projectId: string, limit: number): Promise<AuditEntryDoc[]> {
    return this.entries.find({ project_id: projectId }).sort({ time: -1 }).limit(limit).toArray();
  }
}
