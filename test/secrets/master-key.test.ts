// needs: mongodb redis
/**
 * Stripe secret keys and webhook signing secrets are sealed under the master
 * key (MASTER_KEYS): stored sealed with the key's id, rotated by putting a
 * new key first, and a missing or wrong key stops the service at start with
 * exit status 2 and a message naming MASTER_KEYS. Plain-text rows left by
 * older versions are sealed at start.
 */
import { randomBytes } from 'node:crypto';
import test from 'ava';
import { type Db, MongoClient } from 'mongodb';
import { createTestProject, startTestApp } from '../helpers/app.js';
import { runServiceToExit } from '../helpers/process.js';
import { testMongoUrl, testRedisUrl, uniqueDbName } from '../helpers/services.js';

let mongo: MongoClient;

test.before(async () => {
  mongo = await MongoClient.connect(testMongoUrl());
});

test.after.always(async () => {
  await mongo?.close();
});

const newKey = (id: string) => `${id}:${randomBytes(32).toString('base64')}`;
const stripeKey = 'sk_test_sealedsealedsealed1234';
const webhookSecret = 'whsec_sealedsealedsealed';

interface StoredProject {
  _id: string;
  stripe_secret_key: string | null;
  webhook_signing_secret: string | null;
}

async function storedProject(db: Db, projectId: string): Promise<StoredProject | null> {
  return db.collection<StoredProject>('projects').findOne({ _id: projectId });
}

/** A project created by a service started with `masterKeys`; the service is stopped after. */
async function projectSealedWith(database: string, masterKeys: string): Promise<string> {
  const server = await startTestApp({ database, env: { MASTER_KEYS: masterKeys } });
  try {
    const project = await createTestProject(server.app, 'sealed', {
      stripeSecretKey: stripeKey,
      webhookSigningSecret: webhookSecret,
    });
    return project.projectId;
  } finally {
    await server.app.stop();
  }
}

const serviceEnv = (database: string, masterKeys: string | undefined) => ({
  HOST: '127.0.0.1',
  PORT: '0',
  MONGODB_URL: testMongoUrl(),
  MONGODB_DATABASE: database,
  REDIS_URL: testRedisUrl(),
  RECONCILIATION_CRON: 'off',
  ...(masterKeys === undefined ? {} : { MASTER_KEYS: masterKeys }),
});

test('secrets are stored sealed under the first master key, never in plain text', async (t) => {
  const database = uniqueDbName('sealed');
  const projectId = await projectSealedWith(database, newKey('k1'));
  const stored = await storedProject(mongo.db(database), projectId);
  t.regex(stored?.stripe_secret_key ?? '', /^sealed:v1:k1:/);
  t.regex(stored?.webhook_signing_secret ?? '', /^sealed:v1:k1:/);
  t.false(JSON.stringify(stored).includes('sealedsealedsealed'));
});

test('a missing master key stops the service at start, naming MASTER_KEYS', async (t) => {
  const exit = await runServiceToExit(serviceEnv(uniqueDbName('nokey'), undefined));
  t.is(exit.code, 2);
  t.regex(exit.stderr, /MASTER_KEYS is required/);
});

test('a wrong master key stops the service at start, before any webhook', async (t) => {
  const database = uniqueDbName('wrongkey');
  const projectId = await projectSealedWith(database, newKey('k1'));
  const otherId = await runServiceToExit(serviceEnv(database, newKey('k9')));
  t.is(otherId.code, 2);
  t.regex(otherId.stderr, /MASTER_KEYS cannot open the stored secrets/);
  t.regex(otherId.stderr, new RegExp(`project ${projectId}`));
  t.regex(otherId.stderr, /"k1", not configured/);
  // Same id, different key material: caught too.
  const sameId = await runServiceToExit(serviceEnv(database, newKey('k1')));
  t.is(sameId.code, 2);
  t.regex(sameId.stderr, /master key "k1" does not open it/);
  t.false(`${otherId.stderr}${sameId.stderr}`.includes('sealedsealedsealed'));
});

test('rotation: a new first key re-seals every secret at start; then the old key can go', async (t) => {
  const database = uniqueDbName('rotation');
  const [k1, k2] = [newKey('k1'), newKey('k2')];
  const projectId = await projectSealedWith(database, k1);
  const rotated = await startTestApp({ database, env: { MASTER_KEYS: `${k2},${k1}` } });
  await rotated.app.stop();
  const stored = await storedProject(mongo.db(database), projectId);
  t.regex(stored?.stripe_secret_key ?? '', /^sealed:v1:k2:/);
  t.regex(stored?.webhook_signing_secret ?? '', /^sealed:v1:k2:/);
  const onlyNew = await startTestApp({ database, env: { MASTER_KEYS: k2 } });
  try {
    const project = await onlyNew.app.projects.get(projectId);
    t.is(project?.stripe_secret_key, stripeKey);
    t.is(project?.webhook_signing_secret, webhookSecret);
  } finally {
    await onlyNew.app.stop();
  }
});

test('plain-text secrets written by older versions are sealed at start', async (t) => {
  const database = uniqueDbName('legacy');
  const db = mongo.db(database);
  const now = new Date();
  await db.collection('projects').insertOne({
    _id: 'proj_legacy0000000000' as never,
    name: 'legacy',
    stripe_secret_key: stripeKey,
    webhook_signing_secret: webhookSecret,
    grace_period_seconds: 0,
    catalog: [],
    created_at: now,
    updated_at: now,
  });
  const legacyAnswer = Buffer.from('bk_0123456789abcdef_plaintextplaintextplaintextplaintext');
  await db.collection('idempotency_records').insertOne({
    _id: 'proj_legacy0000000000:billing.v1.AdminService/CreateApiKey:k' as never,
    project_id: 'proj_legacy0000000000',
    method: 'billing.v1.AdminService/CreateApiKey',
    key: 'k',
    request_hash: 'x',
    status: 'completed',
    response: legacyAnswer,
    created_at: now,
    lease_until: now,
  });
  const server = await startTestApp({ database });
  try {
    const stored = await storedProject(db, 'proj_legacy0000000000');
    t.regex(stored?.stripe_secret_key ?? '', /^sealed:v1:test:/);
    t.regex(stored?.webhook_signing_secret ?? '', /^sealed:v1:test:/);
    const project = await server.app.projects.get('proj_legacy0000000000');
    t.is(project?.stripe_secret_key, stripeKey);
    const record = await db.collection('idempotency_records').findOne({});
    t.is(record?.response, null);
    t.regex(String(record?.sealed_response), /^sealed:v1:test:/);
  } finally {
    await server.app.stop();
  }
});
