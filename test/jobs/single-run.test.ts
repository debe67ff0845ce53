// needs: mongodb redis
/**
 * Two service instances against one FerretDB (one database): a triggered
 * reconciliation runs once, even when both instances trigger it at the same
 * moment and both Agendas pick the job up (Agenda's lock is not exclusive on
 * FerretDB; the project's reconciliation lock is). A run cut off by a crash
 * is picked up again.
 */
import { randomBytes } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { MongoClient } from 'mongodb';
import { type Sandbox, startSandbox } from '../../sandbox/index.js';
import { isHeld } from '../../src/domain/reconciliation-lock.js';
import { leaseOf } from '../../src/services/reconciliation-lock.js';
import type { ReconciliationLockDoc, ReconciliationRunDoc } from '../../src/store/documents.js';
import { ReconciliationLockStore } from '../../src/store/reconciliation-lock-store.js';
import { zeroCounts } from '../../src/store/reconciliation-run-store.js';
import { createTestProject, startTestApp, type TestApp } from '../helpers/app.js';
import { uniqueDbName } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { listCalls, seedProjectSubscriptions, waitForRun } from './helpers.js';

const subscriptionCount = 250; // three pages of 100
const pagesPerWalk = Math.ceil(subscriptionCount / 100);

let fake: Sandbox;
let a: TestApp;
let b: TestApp;
let mongo: MongoClient;
let database: string;

const jobEnv = () => ({
  STRIPE_API_URL: fake.url,
  JOB_POLL_MS: '100',
  RECONCILIATION_LEASE_MS: '3000',
});

test.before(async () => {
  fake = await startSandbox();
  database = uniqueDbName('single_run');
  a = await startTestApp({ database, env: jobEnv() });
  b = await startTestApp({ database, env: jobEnv() });
  mongo = new MongoClient(a.config.mongodbUrl);
  await mongo.connect();
});

test.after.always(async () => {
  await mongo?.close();
  await Promise.all([a?.app.stop(), b?.app.stop()]);
  await fake?.close();
});

async function projectWithStripe(name: string, on: TestApp = a) {
  const stripeSecretKey = `sk_test_${randomBytes(12).toString('hex')}`;
  const project = await createTestProject(on.app, name, { stripeSecretKey });
  seedProjectSubscriptions(fake, project.projectId, stripeSecretKey, subscriptionCount);
  return { projectId: project.projectId, stripeSecretKey };
}

const runsOf = (projectId: string, db = database) =>
  mongo
    .db(db)
    .collection<ReconciliationRunDoc>('reconciliation_runs')
    .find({ project_id: projectId })
    .toArray();

/**
 * Two instances on a database of their own. Stopping them is the signal that
 * every Agenda pick-up of their jobs, duplicates included, has run: stop()
 * ends polling and waits for the running handlers.
 */
async function startPair(t: ExecutionContext) {
  const pairDb = uniqueDbName('single_run_pair');
  const first = await startTestApp({ database: pairDb, env: jobEnv() });
  const second = await startTestApp({ database: pairDb, env: jobEnv() });
  const stop = () => Promise.all([first.app.stop(), second.app.stop()]);
  t.teardown(stop);
  return { a: first, b: second, database: pairDb, stop };
}

test.serial('both instances trigger at the same moment: one run, one walk of Stripe', async (t) => {
  const { a, b, database, stop } = await startPair(t);
  const { projectId, stripeSecretKey } = await projectWithStripe('simultaneous', a);
  const rounds = 5;
  for (let round = 0; round < rounds; round += 1) {
    const request = { projectId, dryRun: false, triggeredBy: 'test', reason: `round ${round}` };
    const [fromA, fromB] = await Promise.all([
      a.app.reconciliation.start(request),
      b.app.reconciliation.start(request),
    ]);
    t.is(fromA.run._id, fromB.run._id, 'both triggers return the same run');
    t.is([fromA.created, fromB.created].filter(Boolean).length, 1, 'exactly one started it');
    const done = await waitForRun(a.app, projectId, fromA.run._id);
    t.is(done.state, 'succeeded', done.error ?? '');
    t.is(done.counts.checked, subscriptionCount);
    t.is(done.attempts, 1, 'executed once');
  }
  const outcomes = await Promise.all([jobOutcomes(a), jobOutcomes(b)]);
  // Any duplicate pick-up of the jobs has run once both instances have stopped.
  await stop();
  const runs = await runsOf(projectId, database);
  t.is(runs.length, rounds, 'one run record per round');
  t.true(runs.every((run) => run.state === 'succeeded' && run.stripe_list_calls === pagesPerWalk));
  t.is(listCalls(fake, stripeSecretKey), rounds * pagesPerWalk, 'one walk of Stripe per run');
  t.log(`reconciliation.run job outcomes on each instance: ${JSON.stringify(outcomes)}`);
});

/** `agenda_job_runs_total` of the run job on one instance, by outcome. */
async function jobOutcomes(app: TestApp): Promise<Record<string, number>> {
  const text = await (await fetch(`${app.baseUrl}/metrics`)).text();
  const outcomes: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const match = /^agenda_job_runs_total\{job="reconciliation\.run",outcome="(\w+)"\} (\d+)/.exec(
      line,
    );
    if (match?.[1] !== undefined) outcomes[match[1]] = Number(match[2]);
  }
  return outcomes;
}

test.serial(
  'executions of one run racing on both instances (Agenda locked it twice): the work happens once',
  async (t) => {
    // On FerretDB both Agendas can lock the same job (docs/ferretdb.md, finding 4); this forces
    // that case: each instance executes the queued run at the same moment, besides Agenda.
    const { a, b, stop } = await startPair(t);
    const { projectId, stripeSecretKey } = await projectWithStripe('double execution', a);
    const context = { touch: async () => {}, signal: new AbortController().signal };
    const rounds = 5;
    for (let round = 0; round < rounds; round += 1) {
      const { run } = await a.app.reconciliation.start({
        projectId,
        dryRun: true,
        triggeredBy: 'test',
        reason: `round ${round}`,
      });
      const outcomes = await Promise.all([
        a.app.reconciliation.execute(projectId, run._id, context),
        b.app.reconciliation.execute(projectId, run._id, context),
      ]);
      t.true(outcomes.filter((o) => o === 'succeeded').length <= 1, outcomes.join(', '));
      const done = await waitForRun(a.app, projectId, run._id);
      t.is(done.state, 'succeeded', done.error ?? '');
      t.is(done.attempts, 1, 'executed once');
    }
    // Agenda's own pick-ups of the queued runs have run once both instances have stopped.
    await stop();
    t.is(listCalls(fake, stripeSecretKey), rounds * pagesPerWalk, 'one walk of Stripe per run');
  },
);

test.serial('a trigger while a run is queued or running returns that run', async (t) => {
  const { projectId } = await projectWithStripe('busy');
  const request = { projectId, dryRun: true, triggeredBy: 'test', reason: 'first' };
  // The first run's first Stripe call waits here, so the run cannot finish
  // before the second trigger: it is queued or running then, whatever the load.
  const stripe = fake.holdNext();
  const first = await a.app.reconciliation.start(request);
  const second = await b.app.reconciliation.start({ ...request, reason: 'second' });
  stripe.release();
  t.false(second.created);
  t.is(second.run._id, first.run._id);
  await waitForRun(a.app, projectId, first.run._id);
});

test.serial(
  'a run cut off by a crash (lease over, still running) is picked up again',
  async (t) => {
    const { projectId, stripeSecretKey } = await projectWithStripe('crashed');
    const db = mongo.db(database);
    const started = new Date(Date.now() - 60_000);
    const runId = `rr_${started.getTime().toString(36).padStart(9, '0')}deadbeef0001`;
    // What a replica that died half-way leaves behind: the run RUNNING, its lock's lease over.
    await db.collection<ReconciliationRunDoc>('reconciliation_runs').insertOne({
      _id: runId,
      project_id: projectId,
      dry_run: false,
      state: 'running',
      triggered_by: 'schedule',
      reason: 'scheduled reconciliation',
      created_at: started,
      started_at: started,
      finished_at: null,
      counts: zeroCounts(),
      stripe_list_calls: 0,
      drift_samples: { missing_locally: [], stale: [], missing_in_stripe: [] },
      error: null,
      attempts: 1,
    });
    await db.collection<ReconciliationLockDoc>('reconciliation_locks').insertOne({
      _id: `${projectId}:${String(1).padStart(12, '0')}`,
      project_id: projectId,
      generation: 1,
      run_id: runId,
      phase: 'running',
      owner: 'a-replica-that-crashed',
      lease_until: new Date(Date.now() - 1000),
      created_at: started,
    });
    // A trigger now returns the cut-off run (taken over), not a new one...
    const triggered = await b.app.reconciliation.start({
      projectId,
      dryRun: true,
      triggeredBy: 'test',
      reason: 'while cut off',
    });
    t.false(triggered.created);
    t.is(triggered.run._id, runId);
    // ...and the instances finish it.
    const done = await waitForRun(a.app, projectId, runId);
    t.is(done.state, 'succeeded', done.error ?? '');
    t.is(done.attempts, 2, 'executed once more after the crash');
    t.is(done.counts.missing_locally, subscriptionCount);
    t.is(done.counts.repaired, subscriptionCount);
    t.is(listCalls(fake, stripeSecretKey), pagesPerWalk);
    t.is((await runsOf(projectId)).length, 1);
  },
);

test.serial('the sweep alone picks up a cut-off run (no trigger needed)', async (t) => {
  const { projectId } = await projectWithStripe('swept');
  const db = mongo.db(database);
  const created = new Date(Date.now() - 120_000);
  const runId = `rr_${created.getTime().toString(36).padStart(9, '0')}deadbeef0002`;
  await db.collection<ReconciliationRunDoc>('reconciliation_runs').insertOne({
    _id: runId,
    project_id: projectId,
    dry_run: true,
    state: 'queued',
    triggered_by: 'test',
    reason: 'queued, then its replica died',
    created_at: created,
    started_at: null,
    finished_at: null,
    counts: zeroCounts(),
    stripe_list_calls: 0,
    drift_samples: { missing_locally: [], stale: [], missing_in_stripe: [] },
    error: null,
    attempts: 0,
  });
  await db.collection<ReconciliationLockDoc>('reconciliation_locks').insertOne({
    _id: `${projectId}:${String(1).padStart(12, '0')}`,
    project_id: projectId,
    generation: 1,
    run_id: runId,
    phase: 'queued',
    owner: 'a-replica-that-crashed',
    lease_until: new Date(Date.now() - 1000),
    created_at: created,
  });
  // Both instances sweep every lease (3 s here); either may take it.
  const done = await waitForRun(a.app, projectId, runId);
  t.is(done.state, 'succeeded', done.error ?? '');
  t.is(done.attempts, 1);
  t.is(done.counts.checked, subscriptionCount);
});

test.serial(
  'stopping an instance mid-run hands the run over: the next instance finishes it',
  async (t) => {
    const handoverDb = uniqueDbName('handover');
    const env = jobEnv();
    // A grace no loaded machine runs out of: stop waits until the run is handed back.
    const c = await startTestApp({
      database: handoverDb,
      env: { ...env, SHUTDOWN_GRACE_MS: '60000' },
    });
    const stripeSecretKey = `sk_test_${randomBytes(12).toString('hex')}`;
    const { projectId } = await createTestProject(c.app, 'handover', { stripeSecretKey });
    const count = 5000;
    seedProjectSubscriptions(fake, projectId, stripeSecretKey, count);
    const { run } = await c.app.reconciliation.start({
      projectId,
      dryRun: true,
      triggeredBy: 'test',
      reason: 'handover',
    });
    await waitFor(() => c.app.reconciliation.get(projectId, run._id), {
      what: `run ${run._id} to start`,
      until: (current) => current?.state !== 'queued',
    });
    const stopping = Date.now();
    await c.app.stop();
    const stopMs = Date.now() - stopping;
    // Stopped mid-run, the instance gave its lease back: nothing waits for it to run out.
    const after = await runsOf(projectId, handoverDb);
    const lock = await new ReconciliationLockStore(mongo.db(handoverDb)).newest(projectId);
    t.true(
      after[0]?.state === 'succeeded' || !isHeld(leaseOf(lock), new Date()),
      `after stop: run ${after[0]?.state}, lock ${JSON.stringify(lock)}`,
    );

    const d = await startTestApp({ database: handoverDb, env });
    try {
      const done = await waitForRun(d.app, projectId, run._id);
      t.is(done.state, 'succeeded', done.error ?? '');
      t.is(done.counts.checked, count);
      if (done.attempts === 2)
        t.log(`interrupted after ${stopMs} ms of stop, resumed by the next instance`);
      else t.log('the run finished before the stop reached it');
      t.true(done.attempts === 1 || done.attempts === 2);
    } finally {
      await d.app.stop();
    }
  },
);
