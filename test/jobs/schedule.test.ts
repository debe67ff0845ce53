// needs: mongodb redis
/**
 * The scheduled reconciliation (RECONCILIATION_CRON): validated at start;
 * on two instances sharing one database, each occurrence reconciles each
 * project at most once, and runs of a project never overlap.
 */
import { randomBytes } from 'node:crypto';
import test from 'ava';
import { MongoClient } from 'mongodb';
import { type Sandbox, startSandbox } from '../../sandbox/index.js';
import { isConfigError, loadConfig } from '../../src/config.js';
import type { ReconciliationRunDoc } from '../../src/store/documents.js';
import { createTestProject, startTestApp, type TestApp } from '../helpers/app.js';
import { testMasterKeys, uniqueDbName } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { listCalls, seedProjectSubscriptions } from './helpers.js';

const required = {
  MONGODB_URL: 'mongodb://127.0.0.1:27017/',
  REDIS_URL: 'redis://127.0.0.1:6379',
  MASTER_KEYS: testMasterKeys(),
};

test('RECONCILIATION_CRON: daily at 03:00 UTC by default, off disables, nonsense is refused by name', (t) => {
  t.is(loadConfig(required).reconciliationCron, '0 3 * * *');
  t.is(
    loadConfig({ ...required, RECONCILIATION_CRON: '30 1 * * 1-5' }).reconciliationCron,
    '30 1 * * 1-5',
  );
  t.is(
    loadConfig({ ...required, RECONCILIATION_CRON: '*/10 * * * * *' }).reconciliationCron,
    '*/10 * * * * *',
  );
  t.is(loadConfig({ ...required, RECONCILIATION_CRON: 'off' }).reconciliationCron, undefined);
  for (const bad of ['daily', '0 3 * *', '0 3 * * * * *', '0 3 * * $']) {
    const err = t.throws(() => loadConfig({ ...required, RECONCILIATION_CRON: bad }));
    t.true(isConfigError(err), bad);
    t.true(err?.message.includes('RECONCILIATION_CRON'));
  }
  t.throws(() => loadConfig({ ...required, RECONCILIATION_LEASE_MS: '10' }), {
    message: /RECONCILIATION_LEASE_MS/,
  });
  t.throws(() => loadConfig({ ...required, JOB_POLL_MS: 'fast' }), { message: /JOB_POLL_MS/ });
});

let fake: Sandbox;
let apps: TestApp[] = [];
let mongo: MongoClient | undefined;

test.after.always(async () => {
  await mongo?.close();
  await Promise.all(apps.map((app) => app.app.stop()));
  await fake?.close();
});

test('two instances, a schedule every 2 s: each occurrence reconciles a project once, runs never overlap', async (t) => {
  const wanted = 3;
  fake = await startSandbox();
  const database = uniqueDbName('schedule');
  const env = {
    STRIPE_API_URL: fake.url,
    JOB_POLL_MS: '100',
    RECONCILIATION_LEASE_MS: '3000',
    RECONCILIATION_CRON: '*/2 * * * * *',
  };
  apps = [await startTestApp({ database, env })];
  const first = apps[0];
  if (!first) throw new Error('no app');
  const stripeSecretKey = `sk_test_${randomBytes(12).toString('hex')}`;
  const { projectId } = await createTestProject(first.app, 'scheduled', { stripeSecretKey });
  seedProjectSubscriptions(fake, projectId, stripeSecretKey, 20);
  apps.push(await startTestApp({ database, env }));

  mongo = new MongoClient(first.config.mongodbUrl);
  await mongo.connect();
  const db = mongo.db(database);
  const runsOfProject = () =>
    db
      .collection<ReconciliationRunDoc>('reconciliation_runs')
      .find({ project_id: projectId })
      .sort({ _id: 1 })
      .toArray();
  // However slow the machine, a few occurrences, each reconciled to the end, then stop.
  await waitFor(runsOfProject, {
    what: `${wanted} scheduled runs to succeed`,
    until: (runs) => runs.filter((run) => run.state === 'succeeded').length >= wanted,
  });
  for (const app of apps) await app.app.stop();
  const runs = await runsOfProject();
  const claims = await db.collection('job_claims').countDocuments({});
  t.log(`${runs.length} scheduled runs, ${claims} claimed occurrences`);
  t.true(runs.length >= wanted, `${runs.length} runs`);
  t.true(runs.length <= claims, 'at most one run per occurrence');
  const finished = runs.filter((run) => run.state === 'succeeded');
  t.true(
    runs.every((run) => run.triggered_by === 'schedule' && run.state !== 'failed'),
    JSON.stringify(runs.map((run) => [run.state, run.error])),
  );
  t.true(finished.every((run) => run.counts.checked === 20 && run.attempts === 1));
  for (let i = 1; i < finished.length; i += 1) {
    const previous = finished[i - 1];
    const current = finished[i];
    if (!previous?.finished_at || !current?.started_at) continue;
    t.true(current.started_at >= previous.finished_at, 'runs of a project do not overlap');
  }
  const walks = runs.reduce((sum, run) => sum + run.stripe_list_calls, 0);
  t.is(listCalls(fake, stripeSecretKey), walks, 'no Stripe walk outside a recorded run');
});
