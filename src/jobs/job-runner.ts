/**
 * Background jobs: Agenda 6, storing jobs in MongoDB through
 * `@agendajs/mongo-backend` (polling; change streams do not work on
 * FerretDB). This wrapper adds what every job here needs: a shutdown signal,
 * an outcome per run for Prometheus, error logging, and a stop that waits
 * for running handlers.
 *
 * Agenda's own lock does not make a job exclusive across replicas on
 * FerretDB (docs/ferretdb.md, finding 4): handlers must claim their work
 * with a unique insert themselves (see the reconciliation jobs).
 *
 * Agenda keeps a timer of `lockLifetime / 2` alive after a job ends (its
 * "still alive" check), which can hold the process open after `stop()`;
 * `src/main.ts` exits explicitly once the app has stopped.
 */
import { hostname } from 'node:os';
import { MongoBackend } from '@agendajs/mongo-backend';
import { Agenda, type Job } from 'agenda';
import type { Db } from 'mongodb';
import type { Logger } from '../logger.js';

export type JobOutcome = 'succeeded' | 'failed' | 'skipped' | 'interrupted';

export interface JobContext {
  /** The job's data as stored; handlers check its shape. */
  readonly data: unknown;
  /** Aborted when the service stops: finish or hand the work back soon. */
  readonly signal: AbortSignal;
  /** Tells Agenda the job is alive (long jobs call it within every lock lifetime). */
  touch(): Promise<void>;
  /** For a repeating job: its next occurrence, the same on every replica running this one. */
  readonly nextRunAt: Date | null;
}

export type JobHandler = (context: JobContext) => Promise<JobOutcome>;

export interface JobRunnerOptions {
  readonly db: Db;
  readonly logger: Logger;
  /** How often Agenda polls for due jobs. */
  readonly processEveryMs: number;
  /** A job not touched for this long counts as dead: Agenda cancels it and may run it again. */
  readonly lockLifetimeMs: number;
  /** Agenda's collection (default `agenda_jobs`). */
  readonly collection?: string;
  /** Observes each run (Prometheus). */
  readonly onRun?: (job: string, outcome: JobOutcome, seconds: number) => void;
}

export class JobRunner {
  /** Names this replica (Agenda `lastModifiedBy`, lock owners). */
  readonly instanceId = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  private readonly agenda: Agenda;
  private readonly shutdown = new AbortController();
  private readonly inFlight = new Set<Promise<unknown>>();
  private started = false;
  private stopped = false;

  constructor(private readonly options: JobRunnerOptions) {
    this.agenda = new Agenda({
      backend: new MongoBackend({
        mongo: options.db,
        collection: options.collection ?? 'agenda_jobs',
      }),
      name: this.instanceId,
      processEvery: options.processEveryMs,
      defaultLockLifetime: options.lockLifetimeMs,
      removeOnComplete: true,
    });
    // Without a listener an 'error' event would throw.
    this.agenda.on('error', (error) => options.logger.error('agenda error', { error }));
  }

  define(name: string, handler: JobHandler, settings: { concurrency?: number } = {}): void {
    this.agenda.define(
      name,
      (job: Job<unknown>) => {
        const run = this.runHandler(name, handler, job);
        this.inFlight.add(run);
        return run.finally(() => this.inFlight.delete(run));
      },
      {
        concurrency: settings.concurrency ?? 1,
        // Lock no more than it runs: queued jobs stay free for the other replicas.
        lockLimit: settings.concurrency ?? 1,
        lockLifetime: this.options.lockLifetimeMs,
      },
    );
  }

  /** Queues a one-off job for now (any replica may run it). */
  async now(name: string, data: Record<string, unknown>): Promise<void> {
    await this.agenda.now(name, data);
  }

  /**
   * A repeating job on a cron schedule (UTC). Not run at once: every replica
   * calls this at start, and a deploy must not trigger the schedule.
   */
  async every(cron: string, name: string): Promise<void> {
    await this.agenda.every(cron, name, undefined, { timezone: 'UTC', skipImmediate: true });
  }

  /** Removes every stored job of that name (a schedule no longer wanted). */
  async cancel(name: string): Promise<void> {
    await this.agenda.cancel({ name });
  }

  async start(): Promise<void> {
    if (this.started || this.stopped) return;
    this.started = true;
    await this.agenda.start();
  }

  /**
   * Stops polling (Agenda unlocks the jobs it had locked), tells running
   * handlers to stop, and waits for them up to `graceMs`.
   */
  async stop(graceMs: number): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.started) await this.agenda.stop(false);
    this.shutdown.abort();
    if (this.inFlight.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (this.inFlight.size > 0)
      this.options.logger.warn('jobs still running at shutdown', { running: this.inFlight.size });
  }

  private async runHandler(name: string, handler: JobHandler, job: Job<unknown>): Promise<void> {
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      const outcome = await handler({
        data: job.attrs.data,
        signal: this.shutdown.signal,
        touch: () => job.touch(),
        nextRunAt: job.attrs.nextRunAt ?? null,
      });
      this.options.onRun?.(name, outcome, seconds());
    } catch (error) {
      this.options.onRun?.(name, 'failed', seconds());
      this.options.logger.error('job failed', { job: name, error });
      throw error;
    }
  }
}

/**
 * The occurrence a run of a claimed job stands for: a triggered run carries
 * its own in its data; a scheduled one is named by its time, the same on
 * every replica that runs it.
 */
export function occurrenceOf(context: Pick<JobContext, 'data' | 'nextRunAt'>): string {
  const data = context.data;
  if (typeof data === 'object' && data !== null) {
    const { occurrence } = data as Record<string, unknown>;
    if (typeof occurrence === 'string') return occurrence;
  }
  return (context.nextRunAt ?? new Date()).toISOString();
}

/**
 * Registers a repeating job's cron schedule, or removes a stored one when
 * there is none. Two replicas starting at once may race on the upsert of the
 * schedule (FerretDB); the other one's schedule is the same, so that is only
 * a warning.
 */
export async function registerSchedule(
  runner: Pick<JobRunner, 'every' | 'cancel'>,
  cron: string | undefined,
  name: string,
  logger: Logger,
): Promise<void> {
  try {
    if (cron) await runner.every(cron, name);
    else await runner.cancel(name);
  } catch (error) {
    logger.warn('could not register a job schedule', { job: name, error });
  }
}
