/**
 * Reconciliation: compares a project's subscriptions in Stripe with MongoDB,
 * classifies the drift and (unless it is a dry run) repairs it, then tells
 * the caches exactly as a webhook would.
 *
 * One run at a time per project, across replicas, on MongoDB and FerretDB
 * alike: a run holds its project's ReconciliationLockStore lock from the
 * moment it is queued until it finishes. Starting a run while another is
 * queued or running returns that run. A run whose holder died (lease over,
 * state still queued or running) is picked up again by `sweep` or by the
 * next start.
 *
 * The walk streams Stripe: `subscriptions.list` with auto-pagination, 100 a
 * page, `status: 'all'`, one page in memory at a time; MongoDB's current
 * versions of the project are loaded once into a Map.
 *
 * Repairs are ordinary subscription versions (SubscriptionStore is
 * insert-only), stamped one second before the run started and marked
 * fetched from Stripe:
 * - any event created after the run started is newer, so a webhook that
 *   arrives during or after the run still wins;
 * - events of earlier seconds were already in Stripe's answer (it was
 *   listed after they happened), and the fetched version wins a tie with
 *   an event of its own second (domain/subscription-versions.ts `isNewerVersion`);
 * - stamping the run's own start second instead would let a listing made
 *   in that second beat a change made later in that same second.
 * A subscription that MongoDB has and Stripe does not is recorded as
 * `canceled` (never deleted: versions are history, and a canceled
 * subscription gives no entitlement and no MRR). Ones already ended
 * locally (`canceled`, `incomplete_expired`) are not drift.
 */
import { randomBytes } from 'node:crypto';
import type Stripe from 'stripe';
import { DomainError, type DomainErrorKind } from '../domain/errors.js';
import { isHeld } from '../domain/reconciliation-lock.js';
import { ownershipByMarker } from '../domain/stripe-ownership.js';
import { isEnded } from '../domain/subscription-status.js';
import { isNewerVersion, sameSubscriptionState } from '../domain/subscription-versions.js';
import type { Logger } from '../logger.js';
import type {
  DriftClass,
  ProjectDoc,
  ReconciliationCountsDoc,
  ReconciliationLockDoc,
  ReconciliationRunDoc,
  SubscriptionDoc,
} from '../store/documents.js';
import type { ReconciliationLockStore } from '../store/reconciliation-lock-store.js';
import {
  isActiveRunState,
  type ReconciliationRunStore,
  type RunPageQuery,
  zeroCounts,
} from '../store/reconciliation-run-store.js';
import { type SubscriptionStore, versionStamp } from '../store/subscription-store.js';
import { subscriptionDoc } from '../stripe/subscription-mapping.js';

/** Hands a queued run to a job worker on any replica. */
export interface ReconciliationQueue {
  enqueue(projectId: string, runId: string): Promise<void>;
}

export interface ReconciliationObserver {
  onDrift(projectId: string, driftClass: DriftClass, dryRun: boolean): void;
  onFinished(outcome: 'succeeded' | 'failed' | 'interrupted', dryRun: boolean, ms: number): void;
}

export interface ReconciliationServiceDeps {
  readonly runs: ReconciliationRunStore;
  readonly locks: ReconciliationLockStore;
  readonly subscriptions: SubscriptionStore;
  /** Which Stripe customers are the project's, as recorded when it created or linked them. */
  readonly customers: {
    ownsStripeCustomer(projectId: string, stripeCustomerId: string): Promise<boolean | undefined>;
  };
  readonly projects: { get(projectId: string): Promise<ProjectDoc | null> };
  /** A Stripe client used by this run only (its `request` events count list calls). */
  readonly stripeFor: (secretKey: string) => Stripe;
  readonly notifier: {
    stripeCustomersChanged(projectId: string, ids: Iterable<string>): Promise<void>;
  };
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

/** What a job worker needs while it executes a run. */
export interface ExecutionContext {
  /** Keeps the job's own lock alive (Agenda `touch`). */
  touch(): Promise<void>;
  /** Aborted at shutdown: the run stops at the next page and another replica resumes it. */
  readonly signal: AbortSignal;
}

export type ExecutionOutcome = 'succeeded' | 'failed' | 'skipped' | 'interrupted';

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

/** The lock was taken over (our lease had ended): stop without writing anything more. */
class LostLockError extends Error {
  override readonly name = 'LostLockError';
}

const pageSize = 100;
const maxSamplesPerClass = 100;
/** A queued run waits for a worker; its lock lasts this many leases before the sweep re-queues it. */
const queuedLeaseFactor = 10;

interface Snapshot {
  /** The lock generation as read, and the run it names (null: none, or not inserted yet). */
  readonly newest: ReconciliationLockDoc | null;
  readonly holder: ReconciliationRunDoc | null;
  /** Held by a run that is queued or running (or being created) right now. */
  readonly busy: boolean;
}

interface WalkTools {
  readonly heartbeat: () => Promise<void>;
  readonly log: Logger;
  readonly context: ExecutionContext;
}

interface WalkResult {
  readonly counts: ReconciliationCountsDoc;
  readonly listCalls: number;
  readonly samples: ReconciliationRunDoc['drift_samples'];
  readonly error: string | null;
}

export class ReconciliationService {
  private readonly now: () => Date;

  constructor(private readonly deps: ReconciliationServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * Queues a run for the project, or returns the one already queued or
   * running (also one cut off by a crash, which is queued again).
   */
  async start(request: StartRequest): Promise<StartResult> {
    const { projectId } = request;
    const project = await this.deps.projects.get(projectId);
    if (!project) throw new ReconciliationRefusedError('project_not_found', 'project not found');
    if (!project.stripe_secret_key) {
      throw new ReconciliationRefusedError('no_stripe_key', 'the project has no Stripe key');
    }
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const snapshot = await this.snapshot(projectId, true);
      if (snapshot.busy) {
        if (snapshot.holder) return { run: snapshot.holder, created: false };
        throw new ReconciliationRefusedError('busy', 'a reconciliation is starting; retry shortly');
      }
      const { newest, holder } = snapshot;
      if (holder && isActiveRunState(holder.state)) {
        // Its holder died: take the run over rather than start another.
        if (await this.requeue(holder, newest)) return { run: holder, created: false };
        continue;
      }
      const now = this.now();
      const runId = newRunId(now);
      const lock = await this.deps.locks.advance(projectId, newest, {
        runId,
        phase: 'queued',
        owner: this.deps.instanceId,
        leaseUntil: new Date(now.getTime() + this.deps.leaseMs * queuedLeaseFactor),
        now,
      });
      if (!lock) continue; // another replica took the lock first: look again
      const run: ReconciliationRunDoc = {
        _id: runId,
        project_id: projectId,
        dry_run: request.dryRun,
        state: 'queued',
        triggered_by: request.triggeredBy,
        reason: request.reason,
        created_at: now,
        started_at: null,
        finished_at: null,
        counts: zeroCounts(),
        stripe_list_calls: 0,
        drift_samples: emptySamples(),
        error: null,
        attempts: 0,
      };
      await this.deps.runs.insert(run);
      await this.enqueue(run);
      return { run, created: true };
    }
    throw new ReconciliationRefusedError('busy', 'a reconciliation is starting; retry shortly');
  }

  async get(projectId: string, runId: string): Promise<ReconciliationRunDoc | null> {
    return this.deps.runs.get(projectId, runId);
  }

  async list(projectId: string, query: RunPageQuery): Promise<ReconciliationRunDoc[]> {
    return this.deps.runs.list(projectId, query);
  }

  /**
   * Executes a queued run (a job worker calls this). Exactly one worker
   * across replicas gets past the lock; any other answers `skipped`.
   */
  async execute(
    projectId: string,
    runId: string,
    context: ExecutionContext,
  ): Promise<ExecutionOutcome> {
    const run = await this.deps.runs.get(projectId, runId);
    if (!run || !isActiveRunState(run.state)) return 'skipped';
    const snapshot = await this.snapshot(projectId, false);
    if (snapshot.busy) {
      if (snapshot.newest?.run_id !== runId) {
        await this.supersede(run, snapshot.newest?.run_id ?? 'unknown');
        return 'skipped';
      }
      if (snapshot.newest.phase === 'running') return 'skipped'; // another worker has it
    }
    const startedAt = this.now();
    const lock = await this.deps.locks.advance(projectId, snapshot.newest, {
      runId,
      phase: 'running',
      owner: this.deps.instanceId,
      leaseUntil: new Date(startedAt.getTime() + this.deps.leaseMs),
      now: startedAt,
    });
    if (!lock) return 'skipped';
    // Read again under the lock: another worker may have finished the run between our first
    // read and our taking the lock (it finishes before it releases).
    const current = await this.deps.runs.get(projectId, runId);
    if (!current || !isActiveRunState(current.state)) {
      await this.deps.locks.release(lock);
      return 'skipped';
    }
    const attempts = current.attempts + 1;
    await this.deps.runs.markRunning(runId, startedAt, attempts);
    const log = this.deps.logger.child({ project_id: projectId, run_id: runId });
    log.info('reconciliation started', { dry_run: run.dry_run, attempt: attempts });

    const keeper = this.keepLease(lock, context, log);
    const heartbeat = async (): Promise<void> => keeper.check();
    let outcome: 'succeeded' | 'failed' | 'interrupted';
    try {
      const project = await this.deps.projects.get(projectId);
      const walk = project?.stripe_secret_key
        ? await this.walk(project.stripe_secret_key, run, startedAt, { heartbeat, log, context })
        : {
            counts: zeroCounts(),
            listCalls: 0,
            samples: emptySamples(),
            error: 'the project has no Stripe key',
          };
      outcome = walk.error === null ? 'succeeded' : 'failed';
      await this.deps.runs.finish(runId, {
        state: outcome,
        finishedAt: this.now(),
        counts: walk.counts,
        stripeListCalls: walk.listCalls,
        driftSamples: walk.samples,
        error: walk.error,
      });
      // No renewal may land after the release (on FerretDB it would write the old phase back).
      await keeper.stop();
      await this.deps.locks.release(lock);
      await this.deps.locks.prune(projectId).catch((error: unknown) =>
        // Old lock generations only cost space; the next run prunes them.
        log.debug('old reconciliation lock generations not pruned', { error }),
      );
      log.info('reconciliation finished', { state: outcome, ...walk.counts });
    } catch (err) {
      if (err instanceof LostLockError) {
        log.warn('reconciliation lost its lock (lease ended); another worker took the run over');
        return 'skipped';
      }
      if (!context.signal.aborted) throw err;
      // Shutdown: give the lease back so another replica resumes the run at its next sweep.
      await keeper.stop();
      await this.deps.locks
        .expire(lock, this.now())
        .catch((error: unknown) =>
          log.warn('reconciliation lease not given back; the run resumes once it ends', { error }),
        );
      log.info('reconciliation interrupted by shutdown; another replica will resume it');
      outcome = 'interrupted';
    } finally {
      await keeper.stop();
    }
    this.deps.observer?.onFinished(
      outcome,
      run.dry_run,
      this.now().getTime() - startedAt.getTime(),
    );
    return outcome;
  }

  /**
   * Renews the lock's lease and touches the Agenda job every third of the
   * lease, on a timer: long awaits (loading the local versions, a slow
   * Stripe page) never starve it. `check` throws once the lock was lost
   * (taken over after our lease ended) or the service is stopping.
   */
  private keepLease(lock: ReconciliationLockDoc, context: ExecutionContext, log: Logger) {
    let lost = false;
    let beating: Promise<void> | undefined;
    const beat = async () => {
      try {
        const leaseUntil = new Date(this.now().getTime() + this.deps.leaseMs);
        if (!(await this.deps.locks.renew(lock, leaseUntil))) lost = true;
        else await context.touch();
      } catch (error) {
        // MongoDB down for a moment: the next beat tries again before the lease ends.
        log.warn('reconciliation lease renewal failed', { error });
      }
    };
    const timer = setInterval(
      () => {
        if (beating || lost) return;
        beating = beat().finally(() => {
          beating = undefined;
        });
      },
      Math.max(100, Math.floor(this.deps.leaseMs / 3)),
    );
    timer.unref();
    void context.touch().catch((error: unknown) =>
      // The lock is what keeps the run ours; the job is touched again at the next beat.
      log.debug('reconciliation job not touched', { error }),
    );
    return {
      check: () => {
        context.signal.throwIfAborted();
        if (lost) throw new LostLockError();
      },
      /** Stops renewing and waits for a renewal in flight. */
      stop: async () => {
        clearInterval(timer);
        await beating;
      },
    };
  }

  /**
   * Finds runs cut off by a crash (queued or running, lock lease over) and
   * queues them again. Safe on every replica at once: re-queueing takes the
   * lock, so only one replica re-queues a run.
   */
  async sweep(): Promise<number> {
    let requeued = 0;
    for (const run of await this.deps.runs.listActive(1000)) {
      const snapshot = await this.snapshot(run.project_id, false);
      if (snapshot.busy) {
        if (snapshot.newest?.run_id !== run._id)
          await this.supersede(run, snapshot.newest?.run_id ?? 'unknown');
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

  // --- The walk ---

  private async walk(
    secretKey: string,
    run: ReconciliationRunDoc,
    startedAt: Date,
    { heartbeat, log, context }: WalkTools,
  ): Promise<WalkResult> {
    const projectId = run.project_id;
    const counts = zeroCounts();
    const samples = emptySamples();
    const stripe = this.deps.stripeFor(secretKey);
    let listCalls = 0;
    const onRequest = (event: Stripe.RequestEvent) => {
      if (event.method === 'GET') listCalls += 1;
    };
    stripe.on('request', onRequest);
    const versionTime = Math.floor(startedAt.getTime() / 1000) - 1;
    const changed = new Set<string>();
    const flush = async () => {
      if (changed.size === 0) return;
      const ids = [...changed];
      changed.clear();
      await this.deps.notifier.stripeCustomersChanged(projectId, ids);
    };
    const drift = (driftClass: DriftClass, subscriptionId: string) => {
      counts[driftClass] += 1;
      if (samples[driftClass].length < maxSamplesPerClass) samples[driftClass].push(subscriptionId);
      this.deps.observer?.onDrift(projectId, driftClass, run.dry_run);
    };
    const repair = async (fresh: SubscriptionDoc, current: SubscriptionDoc | undefined) => {
      if (run.dry_run) return;
      try {
        await this.deps.subscriptions.record(fresh);
        // Repaired only if it is now the newest version (a newer webhook may have come first).
        if (current && !isNewerVersion(versionStamp(fresh), versionStamp(current))) return;
        counts.repaired += 1;
        changed.add(fresh.stripe_customer_id);
        if (current) changed.add(current.stripe_customer_id);
      } catch (err) {
        counts.errors += 1;
        log.warn('reconciliation repair failed', {
          subscription_id: fresh.stripe_subscription_id,
          error: err,
        });
      }
    };

    try {
      const local = new Map<string, SubscriptionDoc>();
      for (const doc of await this.deps.subscriptions.currentByProject(projectId))
        local.set(doc.stripe_subscription_id, doc);
      await heartbeat();

      const seen = new Set<string>();
      for await (const subscription of stripe.subscriptions.list({
        limit: pageSize,
        status: 'all',
        // The customer's metadata tells whose subscription it is: no call per object.
        expand: ['data.customer'],
      })) {
        if (seen.has(subscription.id)) continue;
        seen.add(subscription.id);
        const current = local.get(subscription.id);
        // Another project's subscription on a shared Stripe account: not ours to count or repair.
        if (!current && !(await this.isProjects(projectId, subscription))) continue;
        counts.checked += 1;
        local.delete(subscription.id); // what is left at the end is missing in Stripe
        const fresh = subscriptionDoc(projectId, subscription, versionTime, this.now(), true);
        if (!current) {
          drift('missing_locally', subscription.id);
          await repair(fresh, undefined);
        } else if (!sameSubscriptionState(current, fresh)) {
          drift('stale', subscription.id);
          await repair(fresh, current);
        }
        if (counts.checked % pageSize === 0) {
          await flush();
          await heartbeat();
        }
      }
      await flush();
      await heartbeat();

      const missing = [...local.values()].filter((doc) => !isEnded(doc.status));
      // Stripe listed nothing while MongoDB has live subscriptions: most likely a key of
      // another Stripe account. Report, but never cancel every customer on that evidence.
      const suspicious = counts.checked === 0 && missing.length > 0;
      for (const [index, current] of missing.entries()) {
        drift('missing_in_stripe', current.stripe_subscription_id);
        if (!suspicious) await repair(canceledVersion(current, versionTime, this.now()), current);
        if ((index + 1) % pageSize === 0) {
          await flush();
          await heartbeat();
        }
      }
      await flush();
      const error = suspicious
        ? `Stripe listed no subscriptions while ${missing.length} are live locally; nothing was canceled (check the project's Stripe key)`
        : null;
      return { counts, listCalls, samples, error };
    } catch (err) {
      if (err instanceof LostLockError || context.signal.aborted) throw err;
      await flush().catch((error: unknown) =>
        log.warn('reconciliation progress not saved after a failure', { error }),
      );
      log.warn('reconciliation failed', { error: err });
      return { counts, listCalls, samples, error: describe(err) };
    } finally {
      stripe.off('request', onRequest);
    }
  }

  /**
   * Whether a listed subscription that MongoDB does not have is the
   * project's: by its customer's project marker, else as recorded when the
   * project created or linked that customer.
   */
  private async isProjects(projectId: string, subscription: Stripe.Subscription): Promise<boolean> {
    const customer = subscription.customer;
    if (typeof customer !== 'string' && !customer.deleted) {
      const byMarker = ownershipByMarker(projectId, customer.metadata);
      if (byMarker !== 'unknown') return byMarker === 'ours';
    }
    const customerId = typeof customer === 'string' ? customer : customer.id;
    return (await this.deps.customers.ownsStripeCustomer(projectId, customerId)) === true;
  }

  // --- The lock ---

  /**
   * The project's lock as it stands. `waitForHolder`: when the lock is held
   * but its run is not inserted yet (a start in progress on another
   * replica), wait a moment for it.
   */
  private async snapshot(projectId: string, waitForHolder: boolean): Promise<Snapshot> {
    const newest = await this.deps.locks.newest(projectId);
    if (!newest || newest.phase === 'released') return { newest, holder: null, busy: false };
    let holder = await this.deps.runs.get(projectId, newest.run_id);
    for (
      let i = 0;
      waitForHolder &&
      !holder &&
      isHeld({ phase: newest.phase, leaseUntil: newest.lease_until }, this.now()) &&
      i < 40;
      i += 1
    ) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      holder = await this.deps.runs.get(projectId, newest.run_id);
    }
    const held = isHeld({ phase: newest.phase, leaseUntil: newest.lease_until }, this.now());
    // A finished run whose lock was not released (a crash in between) holds nothing.
    const busy = held && (holder === null || isActiveRunState(holder.state));
    return { newest, holder, busy };
  }

  /** Takes the lock for a run cut off by a crash and queues it again. */
  private async requeue(
    run: ReconciliationRunDoc,
    newest: ReconciliationLockDoc | null,
  ): Promise<boolean> {
    const current = await this.deps.runs.get(run.project_id, run._id);
    if (!current || !isActiveRunState(current.state)) return false;
    const now = this.now();
    const lock = await this.deps.locks.advance(run.project_id, newest, {
      runId: run._id,
      phase: 'queued',
      owner: this.deps.instanceId,
      leaseUntil: new Date(now.getTime() + this.deps.leaseMs * queuedLeaseFactor),
      now,
    });
    if (!lock) return false;
    await this.enqueue(current);
    return true;
  }

  /** A run that lost its project to another run while it was cut off. */
  private async supersede(run: ReconciliationRunDoc, by: string): Promise<void> {
    await this.deps.runs.finish(run._id, {
      state: 'failed',
      finishedAt: this.now(),
      counts: run.counts,
      stripeListCalls: run.stripe_list_calls,
      driftSamples: run.drift_samples,
      error: `interrupted, and superseded by run ${by}`,
    });
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

function emptySamples(): ReconciliationRunDoc['drift_samples'] {
  return { missing_locally: [], stale: [], missing_in_stripe: [] };
}

/** The version recorded for a subscription Stripe does not know: ended, as of the run. */
function canceledVersion(
  current: SubscriptionDoc,
  versionTime: number,
  now: Date,
): SubscriptionDoc {
  const endedAt = new Date(versionTime * 1000);
  return {
    ...current,
    _id: `${current.project_id}:${current.stripe_subscription_id}:${versionTime}:stripe`,
    status: 'canceled',
    cancel_at_period_end: false,
    canceled_at: current.canceled_at ?? endedAt,
    ended_at: current.ended_at ?? endedAt,
    event_created: versionTime,
    fetched_from_stripe: true,
    updated_at: now,
  };
}

function describe(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.length > 500 ? `${message.slice(0, 500)}...` : message;
}
