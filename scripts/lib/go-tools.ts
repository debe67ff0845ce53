/**
 * Go tools (FerretDB, grpcurl, ghz, stripe-mock, protoc plugins) installed
 * with `go install` into the git-ignored `.tools/bin` of this repository,
 * pinned to exact versions, and reinstalled only when missing or built from
 * another version.
 */
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { errorMessage, execFileAsync, isExecutable, log, runLogged } from './child-processes.js';
import { REPO_ROOT } from './repo-root.js';

/** Where `go install` puts the pinned Go tools (GOBIN). Git-ignored. */
export const TOOLS_BIN: string = path.join(REPO_ROOT, '.tools', 'bin');

export type GoToolName =
  | 'ferretdb'
  | 'grpcurl'
  | 'ghz'
  | 'stripe-mock'
  | 'protoc-gen-go'
  | 'protoc-gen-connect-go';

interface GoToolSpec {
  /** Module path, as `go version -m` reports it. */
  readonly module: string;
  /** Package path of the main package. */
  readonly pkg: string;
  /** Pinned release tag. */
  readonly version: string;
}

/**
 * Pinned Go tools. Versions checked against the Go module proxy (newest tags).
 * ghz: `@latest` resolves to the ancient v0.93.0 (the proxy's version list is
 * stale for this module), so always pin the tag explicitly.
 */
export const GO_TOOLS: Readonly<Record<GoToolName, GoToolSpec>> = {
  ferretdb: {
    module: 'github.com/FerretDB/FerretDB',
    pkg: 'github.com/FerretDB/FerretDB/cmd/ferretdb',
    version: 'v1.24.2',
  },
  grpcurl: {
    module: 'github.com/fullstorydev/grpcurl',
    pkg: 'github.com/fullstorydev/grpcurl/cmd/grpcurl',
    version: 'v1.9.4',
  },
  ghz: {
    module: 'github.com/bojand/ghz',
    pkg: 'github.com/bojand/ghz/cmd/ghz',
    version: 'v0.121.0',
  },
  // Checks request shapes against Stripe's own API description (stateless).
  'stripe-mock': {
    module: 'github.com/stripe/stripe-mock',
    pkg: 'github.com/stripe/stripe-mock',
    version: 'v0.203.0',
  },
  // buf generate plugins for the Go client (clients/go). Keep these versions
  // equal to google.golang.org/protobuf and connectrpc.com/connect in
  // clients/go/go.mod: generated code asserts a minimum runtime version.
  // connect v1.19.2 is the newest that needs only Go 1.24 (v1.20+ need 1.25+).
  'protoc-gen-go': {
    module: 'google.golang.org/protobuf',
    pkg: 'google.golang.org/protobuf/cmd/protoc-gen-go',
    version: 'v1.36.12',
  },
  'protoc-gen-connect-go': {
    module: 'connectrpc.com/connect',
    pkg: 'connectrpc.com/connect/cmd/protoc-gen-connect-go',
    version: 'v1.19.2',
  },
};

/** The module version a Go binary was built from, or undefined if unknown. */
async function goBinaryModuleVersion(binary: string, module: string): Promise<string | undefined> {
  try {
    const { stdout } = await execFileAsync('go', ['version', '-m', binary]);
    for (const line of stdout.split('\n')) {
      const fields = line.trim().split(/\s+/);
      if (fields[0] === 'mod' && fields[1] === module) return fields[2];
    }
    return undefined;
  } catch {
    return undefined;
  }
}

/** FerretDB's own idea of its version (`ferretdb --version`), or undefined if it does not run. */
async function ferretDbVersion(binary: string): Promise<string | undefined> {
  try {
    const { stdout } = await execFileAsync(binary, ['--version'], { timeout: 10_000 });
    return /^version:\s*(\S+)/m.exec(stdout)?.[1];
  } catch {
    return undefined;
  }
}

async function installedVersion(name: GoToolName, binary: string): Promise<string | undefined> {
  // A plain `go install` of FerretDB builds a binary whose version info is
  // "v1.24.2" but which panics at start-up (see buildFerretDb), so ask the
  // binary itself: that also proves it runs.
  if (name === 'ferretdb') return ferretDbVersion(binary);
  return goBinaryModuleVersion(binary, GO_TOOLS[name].module);
}

/**
 * FerretDB cannot simply be `go install`ed: its `build/version` package embeds
 * a `version.txt` that release builds generate from git and that is absent from
 * the module zip, and its init() panics ("Invalid build/version/version.txt
 * file content") whenever the main module is FerretDB itself. So: download the
 * pinned module with `go mod download`, copy it, write `version.txt`, and
 * `go build ./cmd/ferretdb` there (its own go.mod and go.sum pin every
 * dependency, exactly as `go install` would use them).
 */
async function buildFerretDb(binary: string, env: NodeJS.ProcessEnv): Promise<void> {
  const spec = GO_TOOLS.ferretdb;
  const { stdout } = await execFileAsync(
    'go',
    ['mod', 'download', '-json', `${spec.module}@${spec.version}`],
    {
      env,
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  const parsed: unknown = JSON.parse(stdout);
  const dir =
    typeof parsed === 'object' &&
    parsed !== null &&
    'Dir' in parsed &&
    typeof parsed.Dir === 'string'
      ? parsed.Dir
      : undefined;
  if (dir === undefined)
    throw new Error(`go mod download gave no Dir for ${spec.module}@${spec.version}`);

  const work = await mkdtemp(path.join(os.tmpdir(), 'ferretdb-src-'));
  const src = path.join(work, 'src');
  try {
    // The module cache is read-only: copy, then make the copy writable.
    await runLogged('cp', ['-R', dir, src], { env });
    await runLogged('chmod', ['-R', 'u+w', src], { env });
    await writeFile(path.join(src, 'build', 'version', 'version.txt'), `${spec.version}\n`);
    await writeFile(path.join(src, 'build', 'version', 'package.txt'), 'go-build\n');
    const tmpBinary = `${binary}.tmp-${process.pid}`;
    await runLogged('go', ['build', '-trimpath', '-o', tmpBinary, './cmd/ferretdb'], {
      env: { ...env, GOWORK: 'off', GOFLAGS: '-mod=readonly' },
      cwd: src,
    });
    await rename(tmpBinary, binary);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Install a pinned Go tool into `.tools/bin` (skipped when the binary is
 * already there and of the pinned version). grpcurl and ghz come from
 * `go install`; FerretDB from `go build` of the pinned module (see
 * buildFerretDb). Returns the binary's absolute path. Needs `go` 1.24+ on PATH.
 */
export async function ensureGoTool(name: GoToolName): Promise<string> {
  const spec = GO_TOOLS[name];
  const binary = path.join(TOOLS_BIN, name);
  if (isExecutable(binary)) {
    const built = await installedVersion(name, binary);
    if (built === spec.version) return binary;
    log(
      `${binary} is ${built ?? 'of unknown version or broken'}, want ${spec.version}: reinstalling`,
    );
  }
  await mkdir(TOOLS_BIN, { recursive: true });
  const env = { ...process.env, GOBIN: TOOLS_BIN };
  const target = `${spec.pkg}@${spec.version}`;
  const started = Date.now();
  try {
    if (name === 'ferretdb') {
      log(`installing ${name}: go build of ${spec.module}@${spec.version} into ${TOOLS_BIN} ...`);
      await buildFerretDb(binary, env);
    } else {
      log(`installing ${name}: go install ${target} (GOBIN=${TOOLS_BIN}) ...`);
      await runLogged('go', ['install', target], { env });
    }
  } catch (error) {
    throw new Error(`installing ${name} failed: ${errorMessage(error)} (is Go 1.24+ on PATH?)`);
  }
  const built = isExecutable(binary) ? await installedVersion(name, binary) : undefined;
  if (built !== spec.version) {
    throw new Error(
      `installed ${name} but ${binary} reports ${built ?? 'no version'} instead of ${spec.version}`,
    );
  }
  log(`installed ${name} ${spec.version} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return binary;
}
