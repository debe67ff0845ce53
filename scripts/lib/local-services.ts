/**
 * Local service management for development and tests (no Docker here).
 *
 * - Go tools (FerretDB, grpcurl, ghz) are installed with `go install` into the
 *   git-ignored `.tools/bin` of this repository, pinned to exact versions, and
 *   reinstalled only when missing or built from another version.
 * - `redis-server` comes from Debian's package, installed only when absent.
 * - FerretDB (SQLite backend) and Redis run as child processes on loopback
 *   ports; every child is killed when this process exits.
 *
 * Used by `scripts/start-local.ts`, `scripts/run-tests.ts` and by individual
 * tests (through `test/helpers/services.ts`).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  accessSync,
  constants as fsConstants,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
} from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MongoClient } from 'mongodb';

const execFileAsync = promisify(execFile);

/** Absolute path of the repository root (this file is `scripts/lib/local-services.ts`). */
export const REPO_ROOT: string = fileURLToPath(new URL('../../', import.meta.url));

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

function log(message: string): void {
  process.stderr.write(`[local-services] ${message}\n`);
}

/** An error ignored on purpose, with the reason: shown only with LOCAL_SERVICES_DEBUG=1. */
function debug(message: string, error: unknown): void {
  if (process.env.LOCAL_SERVICES_DEBUG === '1') log(`${message}: ${String(error)}`);
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

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

/** Run a command, its output going to our stderr; reject on non-zero exit. */
function runLogged(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['ignore', process.stderr, process.stderr],
    });
    child.once('error', (error) => reject(new Error(`cannot run ${command}: ${error.message}`)));
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else
        reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit code ${code}`})`));
    });
  });
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

function findOnPath(command: string, extraDirs: readonly string[] = []): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), ...extraDirs].filter(
    (d) => d !== '',
  );
  for (const dir of dirs) {
    const candidate = path.join(dir, command);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

const SBIN_DIRS: readonly string[] = [
  '/usr/local/sbin',
  '/usr/local/bin',
  '/usr/sbin',
  '/usr/bin',
  '/sbin',
  '/bin',
];

async function runIgnoringErrors(command: string, args: readonly string[]): Promise<void> {
  try {
    await execFileAsync(command, args);
  } catch {
    // Best effort: the command or the service may not exist here.
  }
}

/** apt-get holds dpkg's lock: installs started together (redis-server, chromium) run one by one. */
let aptQueue: Promise<unknown> = Promise.resolve();

/**
 * Installs Debian packages with apt-get (update + install, as root or
 * through sudo). Returns a runner for follow-up commands with the same
 * privileges, whose errors are ignored.
 */
function aptGetInstall(
  what: string,
  packages: readonly string[],
): Promise<(args: string[]) => Promise<void>> {
  const next = aptQueue.then(
    () => aptGetInstallNow(what, packages),
    () => aptGetInstallNow(what, packages),
  );
  aptQueue = next.catch((error: unknown) =>
    debug(`apt-get install of ${what} failed (its caller was told); the queue goes on`, error),
  );
  return next;
}

async function aptGetInstallNow(
  what: string,
  packages: readonly string[],
): Promise<(args: string[]) => Promise<void>> {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const sudo = isRoot ? undefined : findOnPath('sudo');
  if (!isRoot && sudo === undefined) {
    throw new Error(
      `${what} is not installed and this is not root (no sudo): apt-get install ${packages.join(' ')}`,
    );
  }
  const apt = async (args: string[]): Promise<void> => {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    if (sudo === undefined) await runLogged('apt-get', args, { env });
    else await runLogged(sudo, ['-E', 'apt-get', ...args], { env });
  };
  log(`${what} not found: installing the Debian package ${packages.join(' ')} ...`);
  await apt(['update']);
  await apt(['install', '-y', '--no-install-recommends', ...packages]);
  const prefix = sudo === undefined ? [] : [sudo];
  return (args: string[]): Promise<void> => {
    const [command, ...rest] = [...prefix, ...args];
    return command === undefined ? Promise.resolve() : runIgnoringErrors(command, rest);
  };
}

/**
 * Path of `redis-server`. Installs Debian's `redis-server` package when it is
 * absent (apt-get update + install, as root or through sudo), then stops and
 * disables the system service the package may have started, so that it does
 * not hold port 6379: our tests start their own servers.
 */
export async function ensureRedisServer(): Promise<string> {
  const existing = findOnPath('redis-server', SBIN_DIRS);
  if (existing !== undefined) return existing;

  const started = Date.now();
  const run = await aptGetInstall('redis-server', ['redis-server']);
  await run(['service', 'redis-server', 'stop']);
  await run(['systemctl', 'disable', '--now', 'redis-server']);
  await run(['update-rc.d', 'redis-server', 'disable']);

  const installed = findOnPath('redis-server', SBIN_DIRS);
  if (installed === undefined)
    throw new Error('apt-get installed redis-server but the binary is not on PATH');
  log(`installed redis-server in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return installed;
}

/** Where Debian's `chromium` package puts the browser (what playwright-core launches). */
/**
 * The command that checks docker-compose.yml: `docker compose` where the
 * plugin exists, else the standalone `docker-compose` (Debian's package,
 * installed when missing). Neither needs a Docker engine for `config`.
 */
export async function ensureComposeCommand(): Promise<string[]> {
  const works = (command: string, args: string[]) =>
    execFileAsync(command, args).then(
      () => true,
      () => false,
    );
  if (await works('docker', ['compose', 'version'])) return ['docker', 'compose'];
  if (!(await works('docker-compose', ['version'])))
    await aptGetInstall('docker-compose', ['docker-compose']);
  return ['docker-compose'];
}

export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Path of Debian's `chromium` (for the browser tests, driven by
 * playwright-core). Installs the package only when it is absent; never
 * downloads a browser any other way.
 */
export async function ensureChromium(): Promise<string> {
  if (isExecutable(CHROMIUM_PATH)) return CHROMIUM_PATH;
  const started = Date.now();
  await aptGetInstall('chromium', ['chromium']);
  if (!isExecutable(CHROMIUM_PATH))
    throw new Error(`apt-get installed chromium but ${CHROMIUM_PATH} is missing`);
  log(`installed chromium in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return CHROMIUM_PATH;
}

/** A free TCP port on 127.0.0.1 (the OS picks it; tiny race until it is bound again). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('could not determine a free port'));
        return;
      }
      const { port } = address;
      server.close((error) => (error ? reject(error) : resolve(port)));
    });
  });
}

// ---------------------------------------------------------------------------
// Child process tracking and cleanup
// ---------------------------------------------------------------------------

/**
 * Module-level state (with the apt queue above): the set of live children this process
 * started. It must be module-level because the cleanup runs from process-wide
 * `exit`/signal handlers, which can only reach state that outlives every
 * caller; each handle also kills its own child in stop().
 */
const liveChildren = new Set<ChildProcess>();
let cleanupInstalled = false;

/**
 * When set (run-tests.ts sets it for its ava workers), every child's pid is also
 * written to a file in this directory and removed when the child exits, so the
 * runner can kill children of test workers that died without cleaning up
 * (for example killed by ava on a timeout).
 */
export const PID_DIR_ENV = 'LOCAL_SERVICES_PID_DIR';

function killAllChildrenNow(signal: NodeJS.Signals): void {
  for (const child of liveChildren) {
    try {
      child.kill(signal);
    } catch {
      // Already gone.
    }
  }
}

function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  // `exit` handlers must be synchronous: SIGKILL cannot be ignored and needs no wait.
  process.on('exit', () => killAllChildrenNow('SIGKILL'));
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      killAllChildrenNow('SIGTERM');
      // If nobody else handles this signal, keep the default meaning (terminate);
      // otherwise the other handler (e.g. a graceful server shutdown) decides,
      // and the `exit` hook above still kills whatever is left.
      if (process.listenerCount(signal) <= 1) {
        process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
      }
    };
    process.on(signal, handler);
  }
}

function pidFile(pid: number): string | undefined {
  const dir = process.env[PID_DIR_ENV];
  return dir === undefined || dir === '' ? undefined : path.join(dir, `${pid}.pid`);
}

function track(child: ChildProcess, binary: string): void {
  installCleanup();
  liveChildren.add(child);
  const pid = child.pid;
  const file = pid === undefined ? undefined : pidFile(pid);
  if (file !== undefined)
    writeFile(file, `${binary}\n`).catch((error: unknown) =>
      log(`could not record pid ${pid} (a leftover may not be killed): ${String(error)}`),
    );
  child.once('exit', () => {
    liveChildren.delete(child);
    if (file !== undefined)
      rm(file, { force: true }).catch((error: unknown) =>
        log(`could not remove the pid file of ${pid} (exited): ${String(error)}`),
      );
  });
}

/**
 * Kill processes recorded in a pid directory (see PID_DIR_ENV) that are still
 * running the recorded binary. Synchronous so that it can run from a signal
 * handler. Returns how many were killed.
 */
export function killRecordedChildren(pidDir: string): number {
  let killed = 0;
  let entries: string[];
  try {
    entries = readdirSync(pidDir);
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const match = /^(\d+)\.pid$/.exec(entry);
    if (match?.[1] === undefined) continue;
    const pid = Number(match[1]);
    try {
      const binary = readFileSync(path.join(pidDir, entry), 'utf8').trim();
      // Guard against pid reuse: only kill a process running the recorded
      // binary (compare executables: redis-server rewrites its argv, and is a
      // symlink to redis-check-rdb on Debian).
      const exe = readlinkSync(`/proc/${pid}/exe`);
      if (binary !== '' && exe === realpathSync(binary)) {
        process.kill(pid, 'SIGKILL');
        killed += 1;
      }
    } catch {
      // Not running any more.
    }
  }
  return killed;
}

/** Keeps the last lines a child wrote, for error messages. */
class LogTail {
  private lines: string[] = [];
  private partial = '';
  constructor(private readonly max = 200) {}

  push(chunk: Buffer | string): void {
    const text = this.partial + chunk.toString();
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    this.lines.push(...parts);
    if (this.lines.length > this.max) this.lines.splice(0, this.lines.length - this.max);
  }

  text(last = 40): string {
    const all = this.partial === '' ? this.lines : [...this.lines, this.partial];
    return all.slice(-last).join('\n');
  }
}

interface RunningProcess {
  readonly child: ChildProcess;
  readonly tail: LogTail;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited: boolean;
}

function spawnTracked(binary: string, args: readonly string[], tail: LogTail): RunningProcess {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  child.stdout?.on('data', (chunk: Buffer) => tail.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => tail.push(chunk));
  const running: RunningProcess = {
    child,
    tail,
    hasExited: false,
    exited: new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        running.hasExited = true;
        resolve({ code, signal });
      });
      child.once('error', (error) => {
        tail.push(`spawn error: ${error.message}\n`);
        running.hasExited = true;
        resolve({ code: null, signal: null });
      });
    }),
  };
  track(child, binary);
  return running;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
async function killAndWait(running: RunningProcess, graceMs = 5000): Promise<void> {
  if (running.child.exitCode !== null || running.child.signalCode !== null || running.hasExited) {
    await running.exited;
    return;
  }
  running.child.kill('SIGTERM');
  const timer = setTimeout(() => running.child.kill('SIGKILL'), graceMs);
  try {
    await running.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Poll `probe` until it resolves true, the process exits, or the deadline passes. */
async function waitReady(
  what: string,
  running: RunningProcess,
  probe: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (running.hasExited) {
      const { code, signal } = await running.exited;
      throw new Error(
        `${what} exited before it was ready (${signal ?? `exit code ${code}`}). Last log lines:\n${running.tail.text()}`,
      );
    }
    try {
      if (await probe()) return;
    } catch (error) {
      lastError = errorMessage(error);
    }
    await sleep(100);
  }
  await killAndWait(running, 1000);
  throw new Error(
    `${what} was not ready after ${timeoutMs} ms${lastError === '' ? '' : ` (last error: ${lastError})`}. Last log lines:\n${running.tail.text()}`,
  );
}

/** True when a port is accepting TCP connections on 127.0.0.1. */
function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

// ---------------------------------------------------------------------------
// FerretDB
// ---------------------------------------------------------------------------

export interface FerretDbOptions {
  /** Folder for the SQLite files (created if missing). */
  dataDir: string;
  /** Port on 127.0.0.1; a free one when omitted. */
  port?: number;
  /** The ferretdb binary; `ensureGoTool('ferretdb')` when omitted. */
  binary?: string;
  /** How long to wait for a successful `ping` (default 30 s). */
  readyTimeoutMs?: number;
}

export interface FerretDbHandle {
  /** `mongodb://127.0.0.1:PORT/` */
  readonly url: string;
  readonly port: number;
  /** Stops the server and waits for it to exit (idempotent). */
  stop(): Promise<void>;
  /** Stops (if running) and starts again on the same port and data dir. */
  restart(): Promise<void>;
  /** The last lines FerretDB logged. */
  logTail(): string;
}

async function mongoPing(url: string): Promise<boolean> {
  const client = new MongoClient(url, {
    serverSelectionTimeoutMS: 1000,
    connectTimeoutMS: 1000,
    directConnection: true,
    monitorCommands: false,
  });
  try {
    await client.connect();
    const result = await client.db('admin').command({ ping: 1 });
    return result.ok === 1;
  } finally {
    await client
      .close()
      .catch((error: unknown) =>
        debug('closing the ping client failed (the ping has answered)', error),
      );
  }
}

/**
 * Start FerretDB 1.24 with its SQLite backend on 127.0.0.1, and wait until it
 * answers a MongoDB `ping`. With no `port`, picks a free one (and retries
 * with another if that one was taken in between).
 */
export async function startFerretDb(options: FerretDbOptions): Promise<FerretDbHandle> {
  const binary = options.binary ?? (await ensureGoTool('ferretdb'));
  const dataDir = path.resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true });
  const timeoutMs = options.readyTimeoutMs ?? 30_000;
  const tail = new LogTail();

  const launch = async (port: number): Promise<RunningProcess> => {
    if (await portInUse(port)) throw new Error(`port ${port} on 127.0.0.1 is already in use`);
    const url = `mongodb://127.0.0.1:${port}/`;
    const running = spawnTracked(
      binary,
      [
        '--handler=sqlite',
        `--sqlite-url=file:${dataDir}/`,
        `--listen-addr=127.0.0.1:${port}`,
        '--state-dir=-',
        '--debug-addr=-',
        '--telemetry=disable',
        '--log-level=warn',
      ],
      tail,
    );
    await waitReady(
      `FerretDB on port ${port} (data in ${dataDir})`,
      running,
      () => mongoPing(url),
      timeoutMs,
    );
    return running;
  };

  let port = options.port ?? (await freePort());
  let running: RunningProcess | undefined;
  for (let attempt = 1; running === undefined; attempt += 1) {
    try {
      running = await launch(port);
    } catch (error) {
      if (options.port !== undefined || attempt >= 3) throw error;
      log(
        `FerretDB did not start on port ${port}, trying another port: ${errorMessage(error).split('\n')[0]}`,
      );
      port = await freePort();
    }
  }

  let current: RunningProcess | undefined = running;
  const stop = async (): Promise<void> => {
    const proc = current;
    current = undefined;
    if (proc !== undefined) await killAndWait(proc);
  };
  return {
    url: `mongodb://127.0.0.1:${port}/`,
    port,
    stop,
    restart: async () => {
      await stop();
      current = await launch(port);
    },
    logTail: () => tail.text(),
  };
}

// ---------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------

export interface RedisOptions {
  /** Port on 127.0.0.1; a free one when omitted. */
  port?: number;
  /** The redis-server binary; `$REDIS_SERVER_BIN` or `ensureRedisServer()` when omitted. */
  binary?: string;
  /** How long to wait for PONG (default 10 s). */
  readyTimeoutMs?: number;
}

export interface RedisHandle {
  /** `redis://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  /** Kills the server and waits for it to exit (idempotent). */
  stop(): Promise<void>;
  /** Starts it again on the same port (no-op while running). */
  start(): Promise<void>;
  /** The last lines redis-server logged. */
  logTail(): string;
}

/** Send a raw RESP `PING` and expect `+PONG`. */
function redisPing(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let answer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('PING timed out'));
    }, 1000);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString();
      if (answer.includes('\r\n')) {
        clearTimeout(timer);
        socket.destroy();
        if (answer.startsWith('+PONG')) resolve(true);
        else reject(new Error(`unexpected PING answer: ${answer.trim()}`));
      }
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/**
 * Start `redis-server` on 127.0.0.1 without persistence and wait for PING.
 * `stop()` and `start()` let tests take Redis down and bring it back on the
 * same port.
 */
export async function startRedis(options: RedisOptions = {}): Promise<RedisHandle> {
  const envBinary = process.env.REDIS_SERVER_BIN;
  const binary =
    options.binary ??
    (envBinary !== undefined && envBinary !== '' ? envBinary : await ensureRedisServer());
  const timeoutMs = options.readyTimeoutMs ?? 10_000;
  const tail = new LogTail();

  const launch = async (port: number): Promise<RunningProcess> => {
    if (await portInUse(port)) throw new Error(`port ${port} on 127.0.0.1 is already in use`);
    const running = spawnTracked(
      binary,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
      ],
      tail,
    );
    await waitReady(`redis-server on port ${port}`, running, () => redisPing(port), timeoutMs);
    return running;
  };

  let port = options.port ?? (await freePort());
  let running: RunningProcess | undefined;
  for (let attempt = 1; running === undefined; attempt += 1) {
    try {
      running = await launch(port);
    } catch (error) {
      if (options.port !== undefined || attempt >= 3) throw error;
      log(
        `redis-server did not start on port ${port}, trying another port: ${errorMessage(error).split('\n')[0]}`,
      );
      port = await freePort();
    }
  }

  let current: RunningProcess | undefined = running;
  let starting: Promise<void> | undefined;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: async () => {
      if (starting !== undefined)
        await starting.catch((error: unknown) =>
          debug('a start failed before this stop (its caller was told)', error),
        );
      const proc = current;
      current = undefined;
      if (proc !== undefined) await killAndWait(proc);
    },
    start: async () => {
      if (starting !== undefined) return starting;
      if (current !== undefined && !current.hasExited) return;
      starting = launch(port).then(
        (proc) => {
          current = proc;
          starting = undefined;
        },
        (error: unknown) => {
          starting = undefined;
          throw error;
        },
      );
      return starting;
    },
    logTail: () => tail.text(),
  };
}
