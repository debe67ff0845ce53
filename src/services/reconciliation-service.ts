/**
 * Reconciliation: compares a project's subscriptions in Stripe with MongoDB,
 * classifies the drift and (unless it is a dry run) repairs it, then tells
 * the caches exactly as a webhook would. Its rooms:
 * - this file: the use cases (start, execute, sweep, read runs);
 * - reconciliation-execution.ts: a job worker executing one queued run;
 * - reconciliation-lock.ts: one run at a time per project, across replicas;
 * - reconciliation-walk.ts: the Stripe walk, with the pure drift rules in
 *   domain/reconciliation-drift.ts.
 *
 * A run holds its project's lock from the moment it is queued until it
 * finishes. Starting a run while another is queued or running returns that
 * run. A run whose holder died (lease over, state still queued or running)
 * is picked up again by `sweep` or by the next start.
 */
import { randomBytes } from 'node:crypto';
import { DomainError, type DomainErrorKind } from '../domain/errors.js';
import type { Logger } from '../logger.js';
import type {
  ProjectDoc,
  ReconciliationLockDoc,
  ReconciliationRunDoc,
} from '../store/documents.js';
import type { ReconciliationLockStore } from '../store/reconciliation-lock-store.js';
import {
  isActiveRunState,
  type ReconciliationRunStore,
  type RunPageQuery,
  zeroCounts,
} from '../store/reconciliation-run-store.js';
import type { SubscriptionStore } from '../store/subscription-store.js';
import {
  type ExecutionContext,
  type ExecutionDeps,
  type ExecutionOutcome,
  executeRun,
  type RunObserver,
  supersede,
} from './reconciliation-execution.js';
import { ReconciliationLock } from './reconciliation-lock.js';
import {
  type DriftObserver,
  emptyDriftSamples,
  type ReconciliationWalkDeps,
} from './reconciliation-walk.js';

/** Hands a queued run to a job worker on any replica. */
export interface ReconciliationQueue {
  enqueue(projectId: string, runId: string): Promise<void>;
}

export type ReconciliationObserver = DriftObserver & RunObserver;

export interface ReconciliationServiceDeps {
  readonly runs: ReconciliationRunStore;
  readonly locks: ReconciliationLockStore;
  readonly subscriptions: SubscriptionStore;
  readonly customers: ReconciliationWalkDeps['customers'];
  readonly projects: { get(projectId: string): Promise<ProjectDoc | null> };
  readonly stripeFor: ReconciliationWalkDeps['stripeFor'];
  readonly notifier: ReconciliationWalkDeps['notifier'];
  readonly queue: ReconciliationQueue;
  readonly logger: Logger;
  /** How long a holder keeps the lock without renewing it (renewed every third of it). */
  readonly leaseMs: number;
  /** Names this replica in lock documents. */
  readonly instanceId: string;
  readonly observer?: ReconciliationObserver;
  readonly now?: () => Date;
}

export interface StartRequest {
  readonly projectId: string;
  readonly dryRun: boolean;
  readonly triggeredBy: string;
  readonly reason: string;
}

export interface StartResult {
  readonly run: ReconciliationRunDoc;
  /** False when a run already queued or running (or one taken over after a crash) was returned. */
  readonly created: boolean;
}

export type { ExecutionContext, ExecutionOutcome };

export type RefusalReason = 'project_not_found' | 'no_stripe_key' | 'busy';

const refusalKind = {
  project_not_found: 'not_found',
  no_stripe_key: 'failed_precondition',
  busy: 'conflict',
} as const satisfies Record<RefusalReason, DomainErrorKind>;

/** A run cannot be started; its kind is the reason's, so the API answers it like any other. */
export class ReconciliationRefusedError extends DomainError {
  override readonly name = 'ReconciliationRefusedError';
  readonly kind: DomainErrorKind;
  constructor(
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message);
    this.kind = refusalKind[reason];
  }
}

export function isReconciliationRefused(err: unknown): err is ReconciliationRefusedError {
  return err instanceof ReconciliationRefusedError;
}

const busy = () =>
  new ReconciliationRefusedError('busy', 'a reconciliation is starting; retry shortly');

export class ReconciliationService {
  private readonly now: () => Date;
  private readonly lock: ReconciliationLock;
  private readonly execution: ExecutionDeps;

  constructor(private readonly deps: ReconciliationServiceDeps) {
    const now = deps.now ?? (() => new Date());
    this.now = now;
    this.lock = new ReconciliationLock({ ...deps, now });
    this.execution = {
      ...deps,
      lock: this.lock,
      walk: { ...deps, now },
      now,
    };
  }

  /**
   * Queues a run for the project, or returns the one already queued or
   * running (also one cut off by a crash, which is queued again).
   */
  async start(request: StartRequest): Promise<StartResult> {
    const project = await this.deps.projects.get(request.projectId);
    if (!project) throw new ReconciliationRefusedError('project_not_found', 'project not found');
    if (!project.stripe_secret_key) {
      throw new ReconciliationRefusedError('no_stripe_key', 'the project has no Stripe key');
    }
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const started = await this.tryStart(request);
      if (started) return started;
    }
    throw busy();
  }

  async get(projectId: string, runId: string): Promise<ReconciliationRunDoc | null> {
    return this.deps.runs.get(projectId, runId);
  }

  async list(projectId: string, query: RunPageQuery): Promise<ReconciliationRunDoc[]> {
    return this.deps.runs.list(projectId, query);
  }

  /**
   * Executes a queued run (a job worker calls this; reconciliation-execution.ts).
   * Exactly one worker across replicas gets past the lock; any other answers `skipped`.
   */
  async execute(
    projectId: string,
    runId: string,
    context: ExecutionContext,
  ): Promise<ExecutionOutcome> {
    return executeRun(this.execution, projectId, runId, context);
  }

  /**
   * Finds runs cut off by a crash (queued or running, lock lease over) and
   * queues them again. Safe on every replica at once: re-queueing takes the
   * lock, so only one replica re-queues a run.
   */
  async sweep(): Promise<number> {
    let requeued = 0;
    for (const run of await this.deps.runs.listActive(1000)) {
      const snapshot = await this.lock.snapshot(run.project_id, false);
      if (snapshot.busy) {
        if (snapshot.newest?.run_id !== run._id)
          await supersede(this.execution, run, snapshot.newest?.run_id ?? 'unknown');
        continue;
      }
      if (await this.requeue(run, snapshot.newest)) {
        requeued += 1;
        this.deps.logger.info('reconciliation run cut off; queued again', {
          project_id: run.project_id,
          run_id: run._id,
        });
      }
    }
    return requeued;
  }

  /** One attempt at starting: null when another replica took the lock first (look again). */
  private async tryStart(request: StartRequest): Promise<StartResult | null> {
    const snapshot = await this.lock.snapshot(request.projectId, true);
    if (snapshot.busy) {
      if (snapshot.holder) return { run: snapshot.holder, created: false };
      throw busy();
    }
    const { newest, holder } = snapshot;
    if (holder && isActiveRunState(holder.state)) {
      // Its holder died: take the run over rather than start another.
      return (await this.requeue(holder, newest)) ? { run: holder, created: false } : null;
    }
    const now = this.now();
    const run = queuedRun(request, newRunId(now), now);
    if (!(await this.lock.claim(request.projectId, newest, run._id, 'queued', now))) return null;
    await this.deps.runs.insert(run);
    await this.enqueue(run);
    return { run, created: true };
  }

  /** Takes the lock for a run cut off by a crash and queues it again. */
  private async requeue(
    run: ReconciliationRunDoc,
    newest: ReconciliationLockDoc | null,
  ): Promise<boolean> {
    const current = await this.deps.runs.get(run.project_id, run._id);
    if (!current || !isActiveRunState(current.state)) return false;
    if (!(await this.lock.claim(run.project_id, newest, run._id, 'queued'))) return false;
    await this.enqueue(current);
    return true;
  }

  private async enqueue(run: ReconciliationRunDoc): Promise<void> {
    try {
      await this.deps.queue.enqueue(run.project_id, run._id);
    } catch (err) {
      // The run stays queued; the sweep queues it again once its lock's lease is over.
      this.deps.logger.warn('could not queue a reconciliation job', {
        project_id: run.project_id,
        run_id: run._id,
        error: err,
      });
    }
  }
}

/** Time-ordered: `rr_` + milliseconds in base 36 (9 characters) + 12 random hex characters. */
function newRunId(now: Date): string {
  return `rr_${now.getTime().toString(36).padStart(9, '0')}${randomBytes(6).toString('hex')}`;
}

function queuedRun(request: StartRequest, runId: string, now: Date): ReconciliationRunDoc {
  return {
    _id: runId,
    project_id: request.projectId,
    dry_run: request.dryRun,
    state: 'queued',
    triggered_by: request.triggeredBy,
    reason: request.reason,
    created_at: now,
    started_at: null,
    finished_at: null,
    counts: zeroCounts(),
    stripe_list_calls: 0,
    drift_samples: emptyDriftSamples(),
    error: null,
    attempts: 0,
  };
}
