/**
 * The three clients as the packages a product depends on, all versioned with
 * the contract (proto/VERSION): the npm tarball `npm pack` makes of
 * clients/ts, the wheel and sdist `python -m build` makes of clients/python,
 * and the Go module clients/go published at v<version> into a folder laid out
 * as a Go module proxy (scripts/go-module-proxy). `npm run pack:clients`
 * writes all three into dist/clients; the client tests install each into a
 * clean project and run its README's quick start.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { execFileAsync } from './child-processes.js';
import { ensurePythonClientTools, GO_CLIENT_DIR } from './client-tools.js';
import { REPO_ROOT } from './repo-root.js';

const CLIENTS = path.join(REPO_ROOT, 'clients');
const BIG_OUTPUT = { maxBuffer: 16 * 1024 * 1024 };

/** The contract's version, which every client carries. */
export async function contractVersion(): Promise<string> {
  return (await readFile(path.join(REPO_ROOT, 'proto', 'VERSION'), 'utf8')).trim();
}

/** `npm pack` of clients/ts (its `prepare` builds dist/ first): the tarball's path. */
export async function packTypeScriptClient(outDir: string): Promise<string> {
  const { stdout } = await execFileAsync('npm', ['pack', '--json', '--pack-destination', outDir], {
    cwd: path.join(CLIENTS, 'ts'),
    ...BIG_OUTPUT,
  });
  const packed: unknown = JSON.parse(stdout);
  const first: unknown = Array.isArray(packed) ? packed[0] : undefined;
  const filename =
    typeof first === 'object' && first !== null && 'filename' in first ? first.filename : undefined;
  if (typeof filename !== 'string') throw new Error(`npm pack said ${stdout}`);
  return path.join(outDir, filename);
}

/**
 * `python -m build` of clients/python: the sdist, then the wheel built from
 * it. No isolation: the pinned hatchling of .tools/venv builds, not one
 * fetched per build. Returns the wheel's path.
 */
export async function buildPythonClient(outDir: string): Promise<string> {
  const venvBin = await ensurePythonClientTools();
  const { stdout } = await execFileAsync(
    path.join(venvBin, 'python'),
    ['-m', 'build', '--no-isolation', '--outdir', outDir, path.join(CLIENTS, 'python')],
    BIG_OUTPUT,
  );
  const wheel = /Successfully built \S+ and (\S+\.whl)/.exec(stdout)?.[1];
  if (wheel === undefined) throw new Error(`python -m build built no wheel:\n${stdout}`);
  return path.join(outDir, wheel);
}

/**
 * clients/go published at v<contract version> into `proxyDir`, as the Go
 * module proxy would serve the tag clients/go/v<version>. Returns the module
 * path and version.
 */
export async function publishGoClient(
  proxyDir: string,
): Promise<{ modulePath: string; version: string }> {
  const version = `v${await contractVersion()}`;
  await execFileAsync(
    'go',
    ['run', '.', '-dir', GO_CLIENT_DIR, '-version', version, '-out', proxyDir],
    {
      cwd: path.join(REPO_ROOT, 'scripts', 'go-module-proxy'),
      env: { ...process.env, GOWORK: 'off', GOFLAGS: '-mod=readonly' },
      ...BIG_OUTPUT,
    },
  );
  const goMod = await readFile(path.join(GO_CLIENT_DIR, 'go.mod'), 'utf8');
  const modulePath = /^module (\S+)$/m.exec(goMod)?.[1];
  if (modulePath === undefined) throw new Error('clients/go/go.mod names no module');
  return { modulePath, version };
}
