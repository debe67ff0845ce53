// needs: mongodb redis grpcurl
/**
 * docs/operations.md is run for real: every block marked `runbook:` is
 * executed in order with bash and the real grpcurl against a live service,
 * so the runbook cannot drift from the code.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import {
  createPlatformKey,
  createTestProject,
  startTestApp,
  type TestApp,
} from '../helpers/app.js';
import { pathWithoutGrpcurl, repoRoot } from '../helpers/process.js';

const run = promisify(execFile);
let server: TestApp;

test.before(async () => {
  // No Stripe here: the runbook's reconciliation run fails, but every command works as written.
  server = await startTestApp({ env: { JOB_POLL_MS: '100' } });
});

test.after.always(async () => {
  await server?.app.stop();
});

interface RunbookBlock {
  readonly name: string;
  readonly script: string;
}

async function runbookBlocks(): Promise<RunbookBlock[]> {
  const text = await readFile(path.join(repoRoot, 'docs/operations.md'), 'utf8');
  return [...text.matchAll(/<!-- runbook: (\S+) -->\n```sh\n([\s\S]*?)```/g)].map((m) => ({
    name: m[1] ?? '',
    script: m[2] ?? '',
  }));
}

test('the operations runbook works as written', async (t) => {
  const project = await createTestProject(server.app, 'runbook');
  const blocks = await runbookBlocks();
  t.true(blocks.length >= 10, 'the runbook has its blocks');
  const env: Record<string, string> = {
    // As the runbook says for a checkout without grpcurl: the repository's scripts/grpcurl.
    PATH: [path.join(repoRoot, 'scripts'), pathWithoutGrpcurl()].join(path.delimiter),
    ADDR: `127.0.0.1:${server.app.port}`,
    KEY: project.adminKey,
    PLATFORM_KEY: (await createPlatformKey(server.app)).key,
  };
  const outputs = new Map<string, string>();
  const execute = async (block: RunbookBlock) => {
    const { stdout } = await run('bash', ['-c', `set -euo pipefail\n${block.script}`], {
      env,
      timeout: 30_000,
    });
    return stdout;
  };
  for (const block of blocks) {
    const stdout = await execute(block).catch((err: unknown) => {
      throw new Error(
        `runbook block "${block.name}" failed: ${err instanceof Error ? err.message : String(err)}`,
      );
    });
    outputs.set(block.name, stdout);
    // Later blocks use ids from earlier answers, as an operator copies them.
    if (block.name === 'grant')
      env.GRANT_ID = (JSON.parse(stdout) as { grant: { id: string } }).grant.id;
    if (block.name === 'grant-credits')
      env.CREDIT_ID = (JSON.parse(stdout) as { credit: { id: string } }).credit.id;
    if (block.name === 'reconcile')
      env.RUN_ID = (JSON.parse(stdout) as { run: { id: string } }).run.id;
    if (block.name === 'webhook-endpoint-create')
      env.WEBHOOK_ENDPOINT_ID = (JSON.parse(stdout) as { endpoint: { id: string } }).endpoint.id;
  }

  t.regex(outputs.get('list-services') ?? '', /billing\.v1\.EntitlementsService/);
  t.regex(outputs.get('health') ?? '', /"status": "SERVING"[\s\S]*"status":"ready"/);
  t.regex(outputs.get('create-project') ?? '', /"adminKeySecret": "bk_/);
  t.regex(outputs.get('check') ?? '', /"allowed": true/);
  t.regex(outputs.get('check') ?? '', /"limit": "10"/);
  t.regex(outputs.get('audit') ?? '', /"reason": "ticket closed"/);
  t.regex(
    outputs.get('timeline') ?? '',
    /TIMELINE_ENTRY_KIND_REVOKE[\s\S]*"reason": "ticket closed"[\s\S]*TIMELINE_ENTRY_KIND_GRANT/,
  );
  t.notRegex(outputs.get('explain') ?? '', /"allowed": true[\s\S]*"entries"/);
  t.regex(outputs.get('explain') ?? '', /"entries"[\s\S]*TIMELINE_ENTRY_KIND_REVOKE/);
  t.regex(outputs.get('check-credits') ?? '', /"kind": "ENTITLEMENT_SOURCE_KIND_CREDITS"/);
  t.regex(outputs.get('list-credits') ?? '', /"amount": "5000"/);
  t.regex(outputs.get('revoke-credits') ?? '', /"revokeReason": "granted twice"/);
  t.regex(outputs.get('reconcile-status') ?? '', /"dryRun": true/);
  t.regex(outputs.get('metrics') ?? '', /"windowStart": "2026-01-01T00:00:00Z"/);
  t.is(
    (outputs.get('daily-metrics') ?? '').match(/"day": "\d{4}-\d{2}-\d{2}"/g)?.length,
    30,
    'the 30 days up to today',
  );
  t.notRegex(outputs.get('find-customer') ?? '', /"customers"/, 'user-42 has grants, no link');
  t.regex(outputs.get('webhook-endpoint-create') ?? '', /"secret": "whsec_[0-9a-f]{48}"/);
  t.regex(
    outputs.get('webhook-endpoints') ?? '',
    /"url": "https:\/\/hooks\.example\.com\/billing"/,
  );
  t.notRegex(outputs.get('webhook-endpoints') ?? '', /whsec_/);
  t.regex(outputs.get('webhook-endpoint-delete') ?? '', /"deletedAt": "/);
  // After the revoke block, the same check says no.
  const check = blocks.find((b) => b.name === 'check');
  if (!check) throw new Error('no check block');
  t.notRegex(await execute(check), /"allowed": true/);
});
