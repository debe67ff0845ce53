// needs: mongodb redis grpcurl
/**
 * The README's "Try it" block runs as a newcomer types it, from the
 * repository root, with no grpcurl on PATH (scripts/grpcurl brings the
 * pinned one): only the key is filled in and the port is the test server's.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { createTestProject, startTestApp, type TestApp } from '../helpers/app.js';
import { pathWithoutGrpcurl, repoRoot } from '../helpers/process.js';

const run = promisify(execFile);
let server: TestApp;

test.before(async () => {
  server = await startTestApp();
});

test.after.always(async () => {
  await server?.app.stop();
});

async function tryItBlock(): Promise<string> {
  const readme = await readFile(path.join(repoRoot, 'README.md'), 'utf8');
  const match = /^## Try it\n\n```sh\n([\s\S]*?)^```$/m.exec(readme);
  if (!match?.[1]) throw new Error('README.md has no "Try it" sh block');
  return match[1];
}

test('the README "Try it" commands work as written, without grpcurl on PATH', async (t) => {
  const project = await createTestProject(server.app, 'try it');
  const block = await tryItBlock();
  t.regex(block, /^KEY=\.\.\./m, 'the block sets KEY first');
  const script = block
    .replace(/^KEY=\.\.\..*$/m, `KEY='${project.adminKey}'`)
    .replaceAll('localhost:8080', `127.0.0.1:${server.app.port}`);
  const { stdout } = await run('bash', ['-c', `set -euo pipefail\n${script}`], {
    cwd: repoRoot,
    env: { PATH: pathWithoutGrpcurl(), HOME: process.env.HOME ?? '' },
    timeout: 120_000,
  });
  t.regex(stdout, /^billing\.v1\.AdminService$/m, 'grpcurl list');
  t.true(stdout.includes(`"id": "${project.projectId}"`), 'GetProject with the key');
  t.regex(stdout, /"status":"ready"/, '/readyz');
  t.regex(stdout, /^rpc_server_duration_seconds_count/m, '/metrics');
});
