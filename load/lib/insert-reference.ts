/**
 * The database's own single-document insert rate, the reference TrackUsage
 * is judged against (DESIGN.md, Budgets): `insertOne` of a document shaped
 * and sized like a usage ledger entry, from this process with the mongodb
 * driver, `concurrency` writers at a time, each insert acknowledged before
 * that writer's next one.
 */
import { randomUUID } from 'node:crypto';
import type { Db } from 'mongodb';
import type { UsageEntryDoc } from '../../src/store/usage-ledger-store.js';
import { closedLoop, closedLoopResult } from './closed-loop.js';
import type { Result } from './results.js';

export interface InsertReferenceOptions {
  readonly db: Db;
  readonly concurrency: number;
  readonly seconds: number;
}

export const insertReferenceScenario = {
  name: 'insert-reference',
  description:
    'insertOne of a ledger-entry-sized document, mongodb driver from the benchmark process (the reference)',
} as const;

export async function insertReference(options: InsertReferenceOptions): Promise<Result> {
  const entries = options.db.collection<UsageEntryDoc>('insert_reference');
  // The ledger's unique once key, so the reference pays for the same index.
  await entries.createIndex({ once_key: 1 }, { unique: true });
  const figures = await closedLoop({
    concurrency: options.concurrency,
    seconds: options.seconds,
    call: (n) =>
      entries.insertOne(ledgerSizedEntry(n)).then(
        () => undefined,
        (err: unknown) => (err instanceof Error ? err.name : 'error'),
      ),
  });
  return closedLoopResult(insertReferenceScenario, figures);
}

/** A new `_id` every time (as a ledger append), the other fields as TrackUsage fills them. */
function ledgerSizedEntry(n: number): UsageEntryDoc {
  const chain = 'proj_0123456789abcdef:reference-customer:api_requests';
  const now = new Date();
  const periodEnd = new Date(Date.UTC(2027, 0, 1));
  const usageId = `usg_${randomUUID().replaceAll('-', '')}`;
  return {
    _id: `${chain}:${randomUUID()}`,
    chain,
    seq: n + 1,
    project_id: 'proj_0123456789abcdef',
    customer_id: 'reference-customer',
    feature: 'api_requests',
    kind: 'usage',
    op_id: usageId,
    amount: 1,
    period_end: periodEnd,
    usage_id: usageId,
    reservation_id: null,
    idempotency_key: randomUUID(),
    once_key: `${chain}:${randomUUID()}`,
    expires_at: null,
    request: '["reference-customer","api_requests",1,false,null]',
    occurred_at: now,
    recorded_at: now,
    allocation: { from_allowance: 1, credits: [], overage: 0 },
    state: {
      periods: [{ end: periodEnd, usage: n + 1, from_allowance: n + 1 }],
      holds: [],
      credits_used: [],
    },
  };
}
