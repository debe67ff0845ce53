/**
 * Child processes of the local services: finding and running commands,
 * starting long-lived servers whose output is kept for error messages, and
 * killing every child when this process exits (also children of test
 * workers that died, through a pid directory). Used by the installers and
 * servers in ./local-services.ts, ./go-tools.ts, ./debian-packages.ts and
 * ./postgres.ts.
 */
import { type ChildProcess, execFile, type SpawnOptions, spawn } from 'node:child_process';
import {
  accessSync,
  constants as fsConstants,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
} from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

export const execFileAsync = promisify(execFile);

export function log(message: string): void {
  process.stderr.write(`[local-services] ${message}\n`);
}

/** An error ignored on purpose, with the reason: shown only with LOCAL_SERVICES_DEBUG=1. */
export function debug(message: string, error: unknown): void {
  if (process.env.LOCAL_SERVICES_DEBUG === '1') log(`${message}: ${String(error)}`);
}

export function isExecutable(file: string): boolean {
  try {
    accessSync(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function findOnPath(command: string, extraDirs: readonly string[] = []): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), ...extraDirs].filter(
    (d) => d !== '',
  );
  for (const dir of dirs) {
    const candidate = path.join(dir, command);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export const SBIN_DIRS: readonly string[] = [
  '/usr/local/sbin',
  '/usr/local/bin',
  '/usr/sbin',
  '/usr/bin',
  '/sbin',
  '/bin',
];

/** Run a command, its output going to our stderr; reject on non-zero exit. */
export function runLogged(
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
export class LogTail {
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

export interface RunningProcess {
  readonly child: ChildProcess;
  readonly tail: LogTail;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited: boolean;
}

/** `uid`/`gid`: run as another user (PostgreSQL refuses to run as root). */
export function spawnTracked(
  binary: string,
  args: readonly string[],
  tail: LogTail,
  options: Pick<SpawnOptions, 'uid' | 'gid' | 'env' | 'cwd'> = {},
): RunningProcess {
  const child = spawn(binary, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
    uid: options.uid,
    gid: options.gid,
    cwd: options.cwd,
  });
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

/**
 * `signal` (SIGTERM unless told: PostgreSQL's fast shutdown is SIGINT), then
 * SIGKILL after `graceMs`; resolves once the process has exited.
 */
export async function killAndWait(
  running: RunningProcess,
  graceMs = 5000,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  if (running.child.exitCode !== null || running.child.signalCode !== null || running.hasExited) {
    await running.exited;
    return;
  }
  running.child.kill(signal);
  const timer = setTimeout(() => running.child.kill('SIGKILL'), graceMs);
  try {
    await running.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Poll `probe` until it resolves true, the process exits, or the deadline passes. */
export async function waitReady(
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
export function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Runs `start` on a free port (or the given one), with up to two other ports if one was taken. */
export async function onFreePort<T>(
  what: string,
  given: number | undefined,
  start: (port: number) => Promise<T>,
): Promise<T> {
  let port = given ?? (await freePort());
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await start(port);
    } catch (error) {
      if (given !== undefined || attempt >= 3) throw error;
      log(
        `${what} did not start on port ${port}, trying another port: ${errorMessage(error).split('\n')[0]}`,
      );
      port = await freePort();
    }
  }
}
