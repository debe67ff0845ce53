// needs: mongodb redis go
/**
 * The Go client (clients/go): its smoke test (`go test`, clients/go/
 * smoke_test.go) passes against a live service over Connect, gRPC and
 * gRPC-Web, and so do its local evaluator's (webhooks and a restart through
 * the control endpoint, ../helpers/client-control.ts); the module vets clean
 * and its go.mod/go.sum are tidy.
 */
import path from 'node:path';
import test from 'ava';
import { ensureGoClientTools, GO_CLIENT_DIR } from '../../scripts/lib/client-tools.js';
import { runChild, type SmokeServer, startSmokeServer } from '../helpers/client-smoke.js';
import { requireNeed } from '../helpers/services.js';

let smoke: SmokeServer | undefined;

test.before(async () => {
  requireNeed('go');
  await ensureGoClientTools();
});

test.after.always(async () => {
  await smoke?.stop();
});

// -mod=readonly: go.sum must already hold every checksum (as on a user's machine).
const goEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  ...process.env,
  GOFLAGS: '-mod=readonly',
  GOWORK: 'off',
  ...extra,
});

test('go test: check, watch a granted change, PERMISSION_DENIED (Connect, gRPC, gRPC-Web); the local evaluator (a grant, a webhook, an expiry, a restart) and its OpenFeature provider', async (t) => {
  t.timeout(300_000);
  smoke = await startSmokeServer('go client smoke');
  const result = await runChild(
    'go',
    [
      'test',
      '-count=1',
      '-v',
      '-run',
      'TestSmoke|TestLocalEvaluator|TestCustomerIndex|TestProvider',
      './...',
    ],
    {
      cwd: GO_CLIENT_DIR,
      env: goEnv(smoke.env),
    },
  );
  t.log(`go test ran in ${result.seconds.toFixed(1)} s`);
  if (result.code !== 0) t.log(result.output);
  t.is(result.code, 0, 'go test failed (its output is above)');
  // It must really have run against the server, not skipped for want of env vars.
  for (const protocol of ['connect', 'grpc', 'grpc-web']) {
    t.regex(result.output, new RegExp(`--- PASS: TestSmoke/${protocol} `), result.output);
  }
  t.regex(result.output, /--- PASS: TestLocalEvaluatorFollowsAGrant /);
  t.regex(result.output, /--- PASS: TestLocalEvaluatorExpiresAGrantWithNoEvent /);
  t.regex(result.output, /--- PASS: TestLocalEvaluatorFollowsAWebhook /);
  t.regex(result.output, /--- PASS: TestLocalEvaluatorSurvivesARestart /);
  t.regex(result.output, /--- PASS: TestCustomerIndexSeesEveryWriteAtOnce /);
  t.regex(result.output, /--- PASS: TestCustomerIndexUnderConcurrentReaders /);
  t.regex(result.output, /--- PASS: TestLocalEvaluatorChecksThatMissTogetherShareOneFetch /);
  t.regex(
    result.output,
    /--- PASS: TestLocalEvaluatorARefusedFetchIsRefusedToEveryCheckThatWaited /,
  );
  t.regex(result.output, /--- PASS: TestProviderAnswersFromTheLocalEvaluator /);
  t.notRegex(result.output, /--- SKIP/);
});

test('go vet passes and go.mod/go.sum are tidy', async (t) => {
  t.timeout(300_000);
  const vet = await runChild('go', ['vet', './...'], { cwd: GO_CLIENT_DIR, env: goEnv() });
  t.is(vet.code, 0, vet.output);
  const tidy = await runChild('go', ['mod', 'tidy', '-diff'], {
    cwd: GO_CLIENT_DIR,
    env: goEnv({ GOFLAGS: '' }),
  });
  t.is(
    tidy.code,
    0,
    `run \`go mod tidy\` in ${path.relative(process.cwd(), GO_CLIENT_DIR)}:\n${tidy.output}`,
  );
});
