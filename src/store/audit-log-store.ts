import { randomUUID } from 'node:crypto';
import type { Collection, Db, Filter } from 'mongodb';
import type { AuditQuery, AuditRecord } from '../domain/records.js';
import type { AuditEntryDoc } from './documents.js';

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

  /** Newest first; `before` continues after the last entry of the previous page. */
  async list(projectId: string, query: AuditQuery): Promise<AuditEntryDoc[]> {
    const filter: Filter<AuditEntryDoc> = { project_id: projectId };
    if (query.actor) filter.actor = query.actor;
    if (query.action) filter.action = query.action;
    if (query.target) filter.target = query.target;
    const time: { $gte?: Date; $lt?: Date } = {};
    if (query.startTime) time.$gte = query.startTime;
    if (query.endTime) time.$lt = query.endTime;
    if (time.$gte || time.$lt) filter.time = time;
    if (query.before) {
      filter.$or = [
        { time: { $lt: query.before.time } },
        { time: query.before.time, _id: { $lt: query.before.id } },
      ];
    }
    return this.entries.find(filter).sort({ time: -1, _id: -1 }).limit(query.limit).toArray();
  }
}
