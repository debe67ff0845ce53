/**
 * Executing one queued reconciliation run, as a job worker does: take the
 * project's lock from `queued` to `running`, walk Stripe while renewing the
 * lease, record the result, release. Exactly one worker across replicas gets
 * past the lock; any other answers `skipped`. At shutdown the lease is given
 * back so that another replica resumes the run.
 */
import type { Logger } from '../logger.js';
import type {
  ProjectDoc,
  ReconciliationLockDoc,
  ReconciliationRunDoc,
} from '../store/documents.js';
import {
  isActiveRunState,
  type ReconciliationRunStore,
} from '../store/reconciliation-run-store.js';
import {
  type LeaseContext,
  type LeaseKeeper,
  LostLockError,
  type ReconciliationLock,
} from './reconciliation-lock.js';
import { failedWalk, type ReconciliationWalkDeps, walkStripe } from './reconciliation-walk.js';

/**
 * What a job worker needs while it executes a run: `touch` keeps the job's
 * own lock alive; `signal` is aborted at shutdown, and the run stops at the
 * next page so that another replica resumes it.
 */
export type ExecutionContext = LeaseContext;

export type ExecutionOutcome = 'succeeded' | 'failed' | 'skipped' | 'interrupted';

export interface RunObserver {
  onFinished(outcome: 'succeeded' | 'failed' | 'interrupted', dryRun: boolean, ms: number): void;
}

export interface ExecutionDeps {
  readonly runs: ReconciliationRunStore;
  readonly projects: { get(projectId: string): Promise<ProjectDoc | null> };
  readonly lock: ReconciliationLock;
  readonly walk: ReconciliationWalkDeps;
  readonly logger: Logger;
  readonly observer?: RunObserver;
  readonly now: () => Date;
}

export async function executeRun(
  deps: ExecutionDeps,
  projectId: string,
  runId: string,
  context: ExecutionContext,
): Promise<ExecutionOutcome> {
  const run = await deps.runs.get(projectId, runId);
  if (!run || !isActiveRunState(run.state)) return 'skipped';
  const claimed = await claimForExecution(deps, run);
  if (!claimed) return 'skipped';
  const { lock, startedAt } = claimed;
  const outcome = await executeHolding(deps, run, lock, startedAt, context);
  if (outcome === 'skipped') return outcome;
  deps.observer?.onFinished(outcome, run.dry_run, deps.now().getTime() - startedAt.getTime());
  return outcome;
}

/** A run that lost its project to another run while it was cut off. */
export async function supersede(
  deps: Pick<ExecutionDeps, 'runs' | 'now'>,
  run: ReconciliationRunDoc,
  by: string,
): Promise<void> {
  await deps.runs.finish(run._id, {
    state: 'failed',
    finishedAt: deps.now(),
    counts: run.counts,
    stripeListCalls: run.stripe_list_calls,
    driftSamples: run.drift_samples,
    error: `interrupted, and superseded by run ${by}`,
  });
}

/** Takes the lock from `queued` to `running` for this worker; null when it is not ours to run. */
async function claimForExecution(
  deps: ExecutionDeps,
  run: ReconciliationRunDoc,
): Promise<{ lock: ReconciliationLockDoc; startedAt: Date } | null> {
  const snapshot = await deps.lock.snapshot(run.project_id, false);
  if (snapshot.busy) {
    if (snapshot.newest?.run_id !== run._id) {
      await supersede(deps, run, snapshot.newest?.run_id ?? 'unknown');
      return null;
    }
    if (snapshot.newest.phase === 'running') return null; // another worker has it
  }
  const startedAt = deps.now();
  const lock = await deps.lock.claim(
    run.project_id,
    snapshot.newest,
    run._id,
    'running',
    startedAt,
  );
  return lock && { lock, startedAt };
}

/** Runs the walk under the lock, renewing its lease; gives the lease back at shutdown. */
async function executeHolding(
  deps: ExecutionDeps,
  run: ReconciliationRunDoc,
  lock: ReconciliationLockDoc,
  startedAt: Date,
  context: ExecutionContext,
): Promise<ExecutionOutcome> {
  // Read again under the lock: another worker may have finished the run between our first
  // read and our taking the lock (it finishes before it releases).
  const current = await deps.runs.get(run.project_id, run._id);
  if (!current || !isActiveRunState(current.state)) {
    await deps.lock.release(lock);
    return 'skipped';
  }
  const attempts = current.attempts + 1;
  await deps.runs.markRunning(run._id, startedAt, attempts);
  const log = deps.logger.child({ project_id: run.project_id, run_id: run._id });
  log.info('reconciliation started', { dry_run: run.dry_run, attempt: attempts });
  const keeper = deps.lock.keepLease(lock, context, log);
  try {
    return await walkAndFinish(deps, run, { lock, startedAt, keeper, log, signal: context.signal });
  } catch (err) {
    if (err instanceof LostLockError) {
      log.warn('reconciliation lost its lock (lease ended); another worker took the run over');
      return 'skipped';
    }
    if (!context.signal.aborted) throw err;
    await keeper.stop();
    await deps.lock.giveBack(lock, log);
    log.info('reconciliation interrupted by shutdown; another replica will resume it');
    return 'interrupted';
  } finally {
    await keeper.stop();
  }
}

interface Holding {
  readonly lock: ReconciliationLockDoc;
  readonly startedAt: Date;
  readonly keeper: LeaseKeeper;
  readonly log: Logger;
  readonly signal: AbortSignal;
}

async function walkAndFinish(
  deps: ExecutionDeps,
  run: ReconciliationRunDoc,
  { lock, startedAt, keeper, log, signal }: Holding,
): Promise<'succeeded' | 'failed'> {
  const project = await deps.projects.get(run.project_id);
  const heartbeat = async (): Promise<void> => keeper.check();
  const walk = project?.stripe_secret_key
    ? await walkStripe(deps.walk, project.stripe_secret_key, run, startedAt, {
        heartbeat,
        log,
        signal,
      })
    : failedWalk('the project has no Stripe key');
  const outcome = walk.error === null ? 'succeeded' : 'failed';
  await deps.runs.finish(run._id, {
    state: outcome,
    finishedAt: deps.now(),
    counts: walk.counts,
    stripeListCalls: walk.listCalls,
    driftSamples: walk.samples,
    error: walk.error,
  });
  // No renewal may land after the release (on FerretDB it would write the old phase back).
  await keeper.stop();
  await deps.lock.releaseAfterRun(lock, log);
  log.info('reconciliation finished', { state: outcome, ...walk.counts });
  return outcome;
}
