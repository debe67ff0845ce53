/**
 * The Python tools that generate and test the Python client (grpcio-tools,
 * mypy-protobuf, pytest, mypy, hatchling), pinned in
 * `clients/python/requirements-dev.txt` and installed into the git-ignored
 * virtualenv `.tools/venv`.
 *
 * Idempotent and fast when nothing changed: the venv records the SHA-256 of
 * the requirements file it was installed from and is only (re)installed when
 * that differs. It records its own path too: pip writes that path into every
 * script's `#!` line, so a venv created through another path (a git
 * worktree whose `.tools` links here) breaks once that path is gone, and is
 * created again. Concurrent callers (ava workers) serialise on a lock folder.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { REPO_ROOT } from './local-services.js';

const execFileAsync = promisify(execFile);

/**
 * The virtualenv (git-ignored), by the real path of `.tools`: the test suite
 * runs from the compiled tree `.build/`, whose `.tools` links to the
 * repository's, and one venv must not look like two (each would recreate it
 * for the other, as the stamp below records the path).
 */
export const PYTHON_VENV: string = path.join(
  realPathOrSelf(path.join(REPO_ROOT, '.tools')),
  'venv',
);

function realPathOrSelf(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return dir; // not created yet: ensurePythonVenv creates it at this path
  }
}

/** Pinned tool versions, one `name==version` a line. */
export const PYTHON_REQUIREMENTS: string = path.join(
  REPO_ROOT,
  'clients',
  'python',
  'requirements-dev.txt',
);

/** protobuf 7 (the runtime of the generated code) needs Python 3.10+. */
const MIN_PYTHON: readonly [number, number] = [3, 10];

const STAMP = path.join(PYTHON_VENV, '.requirements.sha256');
const LOCK = `${PYTHON_VENV}.lock`;
const LOCK_STALE_MS = 10 * 60_000;

function log(message: string): void {
  process.stderr.write(`[python-venv] ${message}\n`);
}

async function readOrUndefined(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

async function runs(python: string): Promise<boolean> {
  try {
    await execFileAsync(python, ['-c', 'import sys']);
    return true;
  } catch {
    return false;
  }
}

function runLogged(command: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', process.stderr, process.stderr] });
    child.once('error', (error) => reject(new Error(`cannot run ${command}: ${error.message}`)));
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else
        reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit code ${code}`})`));
    });
  });
}

/** The interpreter to build the venv from: `$PYTHON`, else `python3`; checked for 3.10+. */
async function basePython(): Promise<string> {
  const python = process.env.PYTHON || 'python3';
  let version: string;
  try {
    const { stdout } = await execFileAsync(python, [
      '-c',
      'import sys; print("%d.%d" % sys.version_info[:2])',
    ]);
    version = stdout.trim();
  } catch (error) {
    throw new Error(
      `cannot run ${python} (${error instanceof Error ? error.message : String(error)}): ` +
        `Python ${MIN_PYTHON.join('.')}+ is needed for the Python client (set PYTHON to use another)`,
    );
  }
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1])) {
    throw new Error(
      `${python} is Python ${version}; the Python client needs ${MIN_PYTHON.join('.')}+`,
    );
  }
  return python;
}

async function withLock<T>(work: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      await mkdir(LOCK);
      break;
    } catch {
      const since = await stat(LOCK).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (since > LOCK_STALE_MS) await rm(LOCK, { recursive: true, force: true });
      else await sleep(250);
    }
  }
  try {
    return await work();
  } finally {
    await rm(LOCK, { recursive: true, force: true });
  }
}

/** The venv's `bin` folder, the pinned tools installed in it. */
export async function ensurePythonVenv(): Promise<string> {
  const bin = path.join(PYTHON_VENV, 'bin');
  const python = path.join(bin, 'python');
  const want = createHash('sha256')
    .update(await readFile(PYTHON_REQUIREMENTS))
    .digest('hex');
  const stamp = `${want}\n${PYTHON_VENV}`;
  const current = async () => (await readOrUndefined(STAMP))?.trim() === stamp && runs(python);
  if (await current()) return bin;

  return withLock(async () => {
    if (await current()) return bin; // another process installed it meanwhile
    const started = Date.now();
    await mkdir(path.dirname(PYTHON_VENV), { recursive: true });
    const installedAt = (await readOrUndefined(STAMP))?.trim().split('\n')[1];
    if (installedAt !== undefined && installedAt !== PYTHON_VENV) {
      log(`${PYTHON_VENV} was created as ${installedAt}: creating it again`);
      await rm(PYTHON_VENV, { recursive: true, force: true });
    }
    if (!(await runs(python))) {
      const base = await basePython();
      log(`creating ${PYTHON_VENV} with ${base} ...`);
      await runLogged(base, ['-m', 'venv', PYTHON_VENV]);
    }
    await rm(STAMP, { force: true });
    log(`installing ${path.relative(REPO_ROOT, PYTHON_REQUIREMENTS)} into ${PYTHON_VENV} ...`);
    await runLogged(python, [
      '-m',
      'pip',
      'install',
      '--quiet',
      '--disable-pip-version-check',
      '--require-virtualenv',
      '-r',
      PYTHON_REQUIREMENTS,
    ]);
    await writeFile(STAMP, `${stamp}\n`);
    log(`Python tools ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return bin;
  });
}
