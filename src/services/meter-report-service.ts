/**
 * Usage of features mapped to a Stripe meter reaches Stripe's meter events,
 * exactly once per usage id, through an outbox in MongoDB:
 *
 * - `recorded` (the usage service's RecordedUsageSink, called before a
 *   TrackUsage is acknowledged) inserts one outbox document per usage whose
 *   feature names a meter event; `_id` is the usage id, so a retry of the
 *   same usage inserts nothing;
 * - `reportRound` (the meter report job) sends up to `limit` due events,
 *   per project with its Stripe key, a few at a time, and deletes what
 *   Stripe accepted; a failed send stays with a backoff. An event of a
 *   customer never linked to Stripe is dropped (skipped): nothing to bill.
 *
 * A crash after Stripe accepted an event and before its delete sends it
 * again with the same identifier; Stripe refuses the copy (for at least 24
 * hours), which counts as delivered ('duplicate'). What left the outbox is
 * remembered, so a TrackUsage retried later (its key holds 30 days) does
 * not report the usage again.
 */
import {
  isFailingMeterEvent,
  type MeterRetryPolicy,
  meterEventNameOf,
  nextMeterAttemptAt,
} from '../domain/meter-events.js';
import type { CustomerStore } from '../store/customer-store.js';
import type {
  MeterOutboxCounts,
  MeterOutboxDoc,
  MeterOutboxStore,
} from '../store/meter-outbox-store.js';
import { type MeterEventsClient, sendMeterEvent } from '../stripe/meter-events.js';
import type { ProjectCache } from './project-cache.js';
import type { RecordedUsage, RecordedUsageSink } from './usage-service.js';

export interface MeterReportDeps {
  readonly projects: Pick<ProjectCache, 'get' | 'catalogOf'>;
  readonly customers: Pick<CustomerStore, 'findByCustomerId'>;
  readonly outbox: Pick<MeterOutboxStore, 'add' | 'due' | 'finish' | 'postpone' | 'counts'>;
  readonly stripeFor: (secretKey: string) => MeterEventsClient;
  readonly retry: MeterRetryPolicy;
  /** Sends in flight at once within one project's batch. */
  readonly concurrency: number;
  readonly now?: () => Date;
}

/** What one round did with the due events it found. */
export interface MeterReportRound {
  readonly found: number;
  /** Accepted by Stripe. */
  readonly sent: number;
  /** Stripe held the identifier already (a resend): delivered before. */
  readonly duplicate: number;
  /** Stripe or the network failed: kept, tried again after a backoff. */
  readonly failed: number;
  /** The customer has no Stripe customer: dropped. */
  readonly skipped: number;
}

type Outcome = 'sent' | 'duplicate' | 'failed' | 'skipped';

export class MeterReportService implements RecordedUsageSink {
  private readonly now: () => Date;

  constructor(private readonly deps: MeterReportDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async recorded(usage: RecordedUsage): Promise<void> {
    const project = await this.deps.projects.get(usage.projectId);
    if (!project) return;
    const eventName = meterEventNameOf(this.deps.projects.catalogOf(project), usage.feature);
    if (eventName === null) return;
    const now = this.now();
    await this.deps.outbox.add({
      _id: usage.usageId,
      project_id: usage.projectId,
      customer_id: usage.customerId,
      feature: usage.feature,
      event_name: eventName,
      value: usage.amount,
      occurred_at: usage.occurredAt,
      created_at: now,
      attempts: 0,
      next_attempt_at: now,
      last_error: null,
    });
  }

  async reportRound(limit: number): Promise<MeterReportRound> {
    const now = this.now();
    const due = await this.deps.outbox.due(now, limit);
    const outcomes: Outcome[] = [];
    for (const [projectId, docs] of byProject(due)) {
      outcomes.push(...(await this.reportProject(projectId, docs, now)));
    }
    const count = (outcome: Outcome) => outcomes.filter((o) => o === outcome).length;
    return {
      found: due.length,
      sent: count('sent'),
      duplicate: count('duplicate'),
      failed: count('failed'),
      skipped: count('skipped'),
    };
  }

  async counts(): Promise<MeterOutboxCounts> {
    return this.deps.outbox.counts((attempts) => isFailingMeterEvent(attempts, this.deps.retry));
  }

  private async reportProject(
    projectId: string,
    docs: readonly MeterOutboxDoc[],
    now: Date,
  ): Promise<Outcome[]> {
    const secretKey = (await this.deps.projects.get(projectId))?.stripe_secret_key;
    if (!secretKey) {
      // Kept, not dropped: the usage is billable once the project has its key again.
      const error = 'the project has no Stripe secret key';
      return Promise.all(docs.map((doc) => this.postpone(doc, now, error)));
    }
    const stripe = this.deps.stripeFor(secretKey);
    const outcomes = await mapBounded(docs, this.deps.concurrency, (doc) =>
      this.reportOne(stripe, doc, now),
    );
    const done = new Map<string, Exclude<Outcome, 'failed'>>();
    docs.forEach((doc, i) => {
      const outcome = outcomes[i];
      if (outcome && outcome !== 'failed') done.set(doc._id, outcome);
    });
    await this.deps.outbox.finish(
      docs.filter((doc) => done.has(doc._id)),
      (id) => done.get(id) ?? 'sent',
      now,
    );
    return outcomes;
  }

  private async reportOne(
    stripe: MeterEventsClient,
    doc: MeterOutboxDoc,
    now: Date,
  ): Promise<Outcome> {
    const link = await this.deps.customers.findByCustomerId(doc.project_id, doc.customer_id);
    if (!link) return 'skipped';
    try {
      const sent = await sendMeterEvent(stripe, {
        eventName: doc.event_name,
        identifier: doc._id,
        stripeCustomerId: link.stripe_customer_id,
        value: doc.value,
        occurredAt: doc.occurred_at,
      });
      return sent === 'accepted' ? 'sent' : 'duplicate';
    } catch (err) {
      return this.postpone(doc, now, err instanceof Error ? err.message : String(err));
    }
  }

  private async postpone(doc: MeterOutboxDoc, now: Date, error: string): Promise<'failed'> {
    const attempts = doc.attempts + 1;
    const next = nextMeterAttemptAt(now, attempts, this.deps.retry);
    await this.deps.outbox.postpone(doc._id, attempts, next, error.slice(0, 500));
    return 'failed';
  }
}

function byProject(docs: readonly MeterOutboxDoc[]): Map<string, MeterOutboxDoc[]> {
  const groups = new Map<string, MeterOutboxDoc[]>();
  for (const doc of docs) {
    const group = groups.get(doc.project_id);
    if (group) group.push(doc);
    else groups.set(doc.project_id, [doc]);
  }
  return groups;
}

/** `work` over `items` with at most `limit` running at once; results in the items' order. */
async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  const queue = items.map((item, index) => ({ item, index }));
  const worker = async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      results[job.index] = await work(job.item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
