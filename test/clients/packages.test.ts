// needs: mongodb redis go python
/**
 * Each client as a product depends on it: the npm tarball, the wheel and the
 * Go module (scripts/lib/client-packages.ts) install into a clean project of
 * their ecosystem, by their names and the contract's version, and the
 * README's quick start, copied from the README as it stands, runs there
 * against a live service: it prints the answer the service gives.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test, { type ExecutionContext } from 'ava';
import { AdminService } from '../../gen/billing/v1/admin_pb.js';
import { EntitlementsService } from '../../gen/billing/v1/entitlements_pb.js';
import {
  buildPythonClient,
  contractVersion,
  packTypeScriptClient,
  publishGoClient,
} from '../../scripts/lib/client-packages.js';
import { ensureGoClientTools, ensurePythonClientTools } from '../../scripts/lib/client-tools.js';
import { REPO_ROOT } from '../../scripts/lib/repo-root.js';
import {
  type ChildResult,
  runChild,
  type SmokeServer,
  startSmokeServer,
} from '../helpers/client-smoke.js';
import { readmeBlocks, writeReadmeTsConfig } from '../helpers/readme-blocks.js';
import { requireNeed } from '../helpers/services.js';

let smoke: SmokeServer | undefined;
let work: string | undefined;

test.before(async () => {
  requireNeed('go');
  requireNeed('python');
  work = await mkdtemp(path.join(os.tmpdir(), 'client-packages-'));
  smoke = await startSmokeServer('client packages');
});

test.after.always(async () => {
  await smoke?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

function live(): SmokeServer {
  if (smoke === undefined) throw new Error('no server');
  return smoke;
}

async function folder(name: string): Promise<string> {
  const dir = path.join(work ?? os.tmpdir(), name);
  await mkdir(dir, { recursive: true });
  return dir;
}

function succeeded(t: ExecutionContext, what: string, result: ChildResult): void {
  t.is(result.code, 0, `${what} failed:\n${result.output}`);
}

/**
 * A granted feature and one the project does not know, each with the line
 * the quick start must print for it (the version is the one the service
 * answers us for the same customer).
 */
async function expectedLines(customerId: string): Promise<{
  granted: [string, RegExp];
  unknown: [string, RegExp];
}> {
  const server = live();
  const transport = createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' });
  const headers = { authorization: `Bearer ${server.adminKey}` };
  await createClient(AdminService, transport).grantEntitlement(
    { customerId, feature: 'quickstart', reason: 'README quick start' },
    { headers },
  );
  const { version } = await createClient(EntitlementsService, transport).checkEntitlement(
    { customerId, feature: 'quickstart' },
    { headers },
  );
  return {
    granted: [
      'quickstart',
      new RegExp(`^${customerId} quickstart: allowed, version ${version}$`, 'm'),
    ],
    unknown: [
      'not-in-catalog',
      new RegExp(
        `^${customerId} not-in-catalog: not allowed \\((DENIAL_REASON_)?UNKNOWN_FEATURE\\), version \\d+$`,
        'm',
      ),
    ],
  };
}

/** Runs the quick start for the granted and the unknown feature. */
async function runsTheQuickStart(
  t: ExecutionContext,
  customerId: string,
  run: (customerId: string, feature: string) => Promise<ChildResult>,
): Promise<void> {
  const { granted, unknown } = await expectedLines(customerId);
  for (const [feature, line] of [granted, unknown]) {
    const result = await run(customerId, feature);
    succeeded(t, `the quick start for ${feature}`, result);
    t.regex(result.output, line);
  }
}

test('TypeScript: the npm pack tarball installs by name and runs the README quick start', async (t) => {
  t.timeout(300_000);
  const version = await contractVersion();
  const tarball = await packTypeScriptClient(await folder('npm'));
  t.is(path.basename(tarball), `example-billing-client-${version}.tgz`);

  const project = await folder('ts-project');
  await writeFile(path.join(project, 'package.json'), '{ "type": "module", "private": true }\n');
  const install = await runChild(
    'npm',
    ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball],
    { cwd: project },
  );
  succeeded(t, 'npm install of the tarball', install);
  const installed: unknown = JSON.parse(
    await readFile(
      path.join(project, 'node_modules', '@example', 'billing-client', 'package.json'),
      'utf8',
    ),
  );
  t.like(installed, { name: '@example/billing-client', version });

  await writeFile(
    path.join(project, 'quickstart.ts'),
    (await readmeBlocks('ts/README.md', 'ts')).quickStart,
  );
  await writeReadmeTsConfig(project, ['quickstart.ts']);
  const bin = path.join(REPO_ROOT, 'node_modules', '.bin');
  succeeded(
    t,
    'tsc of the quick start',
    await runChild(path.join(bin, 'tsc'), ['-p', project], { cwd: project }),
  );
  await runsTheQuickStart(t, 'qs-ts', (customerId, feature) =>
    runChild(path.join(bin, 'tsx'), ['quickstart.ts', customerId, feature], {
      cwd: project,
      env: { ...process.env, ...live().env, BILLING_API_KEY: live().readOnlyKey },
    }),
  );
});

test('Python: the python -m build wheel installs into a fresh venv and runs the README quick start', async (t) => {
  t.timeout(300_000);
  const version = await contractVersion();
  const venvBin = await ensurePythonClientTools();
  const wheel = await buildPythonClient(await folder('python-dist'));
  t.is(path.basename(wheel), `billing_client-${version}-py3-none-any.whl`);

  const project = await folder('python-project');
  const venv = path.join(project, 'venv');
  succeeded(
    t,
    'python -m venv',
    await runChild(path.join(venvBin, 'python'), ['-m', 'venv', '--without-pip', venv], {
      cwd: project,
    }),
  );
  const python = path.join(venv, 'bin', 'python');
  // The tools' pip installs into the new venv; the constraints pin the
  // dependencies to the versions the tools venv already downloaded.
  const install = await runChild(
    path.join(venvBin, 'pip'),
    [
      ...['--python', python, 'install', '--quiet', '--disable-pip-version-check'],
      ...['-c', path.join(REPO_ROOT, 'clients', 'python', 'requirements-dev.txt')],
      `${wheel}[typing]`,
    ],
    { cwd: project },
  );
  succeeded(t, 'pip install of the wheel', install);
  const reported = await runChild(
    python,
    [
      '-I',
      '-c',
      'import billing_client; print(billing_client.__version__, billing_client.__file__)',
    ],
    { cwd: project },
  );
  t.regex(reported.output, new RegExp(`^${version.replaceAll('.', '\\.')} ${venv}/`));

  await writeFile(
    path.join(project, 'quickstart.py'),
    (await readmeBlocks('python/README.md', 'python')).quickStart,
  );
  // mypy reads the installed wheel's py.typed packages, as a user's would.
  const typed = await runChild(
    path.join(venvBin, 'mypy'),
    ['--strict', '--no-incremental', '--python-executable', python, 'quickstart.py'],
    { cwd: project },
  );
  succeeded(t, 'mypy --strict of the quick start', typed);
  await runsTheQuickStart(t, 'qs-python', (customerId, feature) =>
    runChild(python, ['-I', 'quickstart.py', customerId, feature], {
      cwd: project,
      env: { ...process.env, ...live().env, BILLING_API_KEY: live().readOnlyKey },
    }),
  );
});

test('Go: the module, served at its path and the contract version, builds the README quick start', async (t) => {
  t.timeout(300_000);
  await ensureGoClientTools();
  const proxy = await folder('goproxy');
  const { modulePath, version } = await publishGoClient(proxy);
  t.is(version, `v${await contractVersion()}`);
  t.is(modulePath, 'github.com/example/billing-entitlements-service/clients/go');

  const project = await folder('go-project');
  await mkdir(path.join(project, 'quickstart'));
  await writeFile(path.join(project, 'go.mod'), 'module example.com/product\n\ngo 1.24.0\n');
  await writeFile(
    path.join(project, 'quickstart', 'main.go'),
    (await readmeBlocks('go/README.md', 'go')).quickStart,
  );
  // As the README says: the release from the proxy folder, everything else
  // from the Go module proxy; no checksum database entry for an unpublished module.
  const env = {
    ...process.env,
    GOPROXY: `file://${proxy},${process.env.GOPROXY ?? 'https://proxy.golang.org'}`,
    GONOSUMDB: modulePath,
    GOFLAGS: '-mod=mod',
    GOWORK: 'off',
  };
  succeeded(
    t,
    'go get',
    await runChild('go', ['get', `${modulePath}@${version}`], { cwd: project, env }),
  );
  t.regex(
    await readFile(path.join(project, 'go.mod'), 'utf8'),
    new RegExp(`^(require |\\t)${modulePath} ${version}\\b`, 'm'),
  );
  const binary = path.join(project, 'quickstart-bin');
  succeeded(
    t,
    'go build',
    await runChild('go', ['build', '-o', binary, './quickstart'], { cwd: project, env }),
  );
  await runsTheQuickStart(t, 'qs-go', (customerId, feature) =>
    runChild(binary, [customerId, feature], {
      cwd: project,
      env: { ...process.env, ...live().env, BILLING_API_KEY: live().readOnlyKey },
    }),
  );
});
