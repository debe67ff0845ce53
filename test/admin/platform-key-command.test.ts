// needs: mongodb redis
/**
 * `npm run platform-key -- create|revoke`, the operator's way to a platform
 * key, run as a command against the service's own database: the key it
 * prints creates a project, and once revoked by the same command it is
 * refused.
 */
import { spawn } from 'node:child_process';
import { Code, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { AdminService } from '../../gen/billing/v1/admin_pb.js';
import { nodeEntryArgs } from '../../scripts/lib/node-entry.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { repoRoot } from '../helpers/process.js';
import { codeOf } from '../helpers/rpc.js';
import { waitFor } from '../helpers/wait.js';

let server: TestApp;

test.before(async () => {
  server = await startTestApp();
});

test.after.always(async () => {
  await server?.app.stop();
});

/** The command with the service's own settings; its exit code and what it printed. */
function platformKey(
  ...args: string[]
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { config } = server;
  const child = spawn(process.execPath, [...nodeEntryArgs('scripts/platform-key.ts'), ...args], {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? '',
      MONGODB_URL: config.mongodbUrl,
      MONGODB_DATABASE: config.mongodbDatabase,
      REDIS_URL: config.redisUrl,
      MASTER_KEYS: config.masterKeys.map((k) => `${k.id}:${k.key.toString('base64')}`).join(','),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

test('a created platform key creates projects; revoked, it is refused', async (t) => {
  const created = await platformKey('create', 'onboarding tenants');
  t.is(created.code, 0, created.stderr);
  const [idLine = '', secret = ''] = created.stdout.trim().split('\n');
  const keyId = idLine.replace(/^key id /, '');
  t.not(keyId, '');
  const admin = createClient(
    AdminService,
    createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' }),
  );
  const as = { headers: { authorization: `Bearer ${secret}` } };
  const project = await admin.createProject({ name: 'onboarded', reason: 'first tenant' }, as);
  t.truthy(project.project?.id);

  const revoked = await platformKey('revoke', keyId, 'done onboarding');
  t.is(revoked.code, 0, revoked.stderr);
  t.is(revoked.stdout.trim(), `revoked ${keyId}`);
  // The revocation reaches the running service over the invalidation bus.
  const refused = await waitFor(
    () => codeOf(admin.createProject({ name: 'too late', reason: 'revoked' }, as)),
    { what: 'the revoked platform key to be refused', until: (code) => code !== 'ok' },
  );
  t.is(refused, Code.Unauthenticated);
});

test('without a reason, it prints its usage and changes nothing', async (t) => {
  const result = await platformKey('create');
  t.is(result.code, 64);
  t.regex(result.stderr, /usage: platform-key create/);
});
