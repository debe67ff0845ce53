// needs: mongodb redis python
/**
 * The Python client (clients/python): the package builds and installs (into a
 * temporary folder), its pytest smoke test passes against a live service
 * using that installed copy, and `mypy --strict` accepts the hand-written
 * code against the generated .pyi stubs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { ensurePythonClientTools } from '../../scripts/lib/client-tools.js';
import { REPO_ROOT } from '../../scripts/lib/local-services.js';
import { runChild, type SmokeServer, startSmokeServer } from '../helpers/client-smoke.js';
import { requireNeed } from '../helpers/services.js';

const CLIENT_DIR = path.join(REPO_ROOT, 'clients', 'python');
let venvBin = '';
let smoke: SmokeServer | undefined;
let tmp: string | undefined;

test.before(async () => {
  requireNeed('python');
  venvBin = await ensurePythonClientTools();
  tmp = await mkdtemp(path.join(os.tmpdir(), 'python-client-'));
});

test.after.always(async () => {
  await smoke?.stop();
  if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
});

// No __pycache__ or .pytest_cache in the working tree.
const pythonEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => ({
  ...process.env,
  PYTHONDONTWRITEBYTECODE: '1',
  ...extra,
});

test('pytest: check, watch a granted change, PERMISSION_DENIED, the generic OFREP provider, the local evaluator (a grant, a webhook, an expiry, a restart) and its OpenFeature provider (installed package)', async (t) => {
  t.timeout(300_000);
  const site = path.join(tmp ?? '', 'site');
  const install = await runChild(
    path.join(venvBin, 'python'),
    [
      ...['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check'],
      ...['--no-deps', '--no-build-isolation', '--target', site, CLIENT_DIR],
    ],
    { cwd: REPO_ROOT, env: pythonEnv({}) },
  );
  t.is(install.code, 0, `pip install clients/python failed:\n${install.output}`);

  smoke = await startSmokeServer('python client smoke');
  // The pytest script (not `python -m pytest`) keeps the source folder off
  // sys.path: billing and billing_client come from the installed copy.
  const result = await runChild(
    path.join(venvBin, 'pytest'),
    ['-p', 'no:cacheprovider', '-v', '-rs', 'tests'],
    { cwd: CLIENT_DIR, env: pythonEnv({ ...smoke.env, PYTHONPATH: site }) },
  );
  t.log(`pytest ran in ${result.seconds.toFixed(1)} s`);
  if (result.code !== 0) t.log(result.output);
  t.is(result.code, 0, 'pytest failed (its output is above)');
  t.regex(result.output, /test_check_watch_and_permission_denied PASSED/, result.output);
  t.regex(result.output, /test_generic_ofrep_provider_reads_entitlements_as_flags PASSED/);
  t.regex(result.output, /test_a_grant_on_the_server_reaches_the_local_answer PASSED/);
  t.regex(result.output, /test_a_grant_expiry_turns_the_feature_off_with_no_event PASSED/);
  t.regex(result.output, /test_a_webhook_on_the_server_reaches_the_local_answer PASSED/);
  t.regex(
    result.output,
    /test_allowed_for_follows_fills_feed_changes_evictions_and_resyncs PASSED/,
  );
  t.regex(result.output, /test_checks_of_one_customer_that_miss_together_share_one_fetch PASSED/);
  t.regex(
    result.output,
    /test_a_refused_fetch_is_refused_to_every_check_that_waited_for_it PASSED/,
  );
  t.regex(
    result.output,
    /test_answers_through_a_restart_of_the_service_then_follows_changes_again PASSED/,
  );
  t.regex(result.output, /test_flags_from_the_local_evaluator_and_an_event_per_change PASSED/);
  t.notRegex(result.output, /SKIPPED|skipped/);
});

test('mypy --strict accepts billing_client and the smoke test against the .pyi stubs', async (t) => {
  t.timeout(300_000);
  const result = await runChild(
    path.join(venvBin, 'mypy'),
    ['--cache-dir', path.join(REPO_ROOT, '.tools', 'mypy-cache')],
    { cwd: CLIENT_DIR, env: pythonEnv({}) },
  );
  t.log(`mypy ran in ${result.seconds.toFixed(1)} s`);
  t.is(result.code, 0, result.output);
});
