/** Runs the service as a real child process, the way an operator does. */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeEntryArgs } from '../../scripts/lib/node-entry.js';
import { testMasterKeys } from './services.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The repository's own files. The same folder as repoRoot, except when tests
 * run from the compiled tree (scripts/lib/compiled-tree.ts), whose compiled
 * folders also hold the .js files: compare or list files here.
 */
export const sourceRoot = path.dirname(realpathSync(path.join(repoRoot, 'tsconfig.json')));

export interface ServiceProcess {
  readonly child: ChildProcess;
  readonly port: number;
  /** Every stdout line so far (JSON logs). */
  readonly logs: string[];
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
}

export interface ExitResult {
  readonly code: number | null;
  readonly stderr: string;
}

/** Starts `src/main.ts` and waits for its "listening" log line. */
export async function spawnService(env: Readonly<Record<string, string>>): Promise<ServiceProcess> {
  const child = spawn(process.execPath, nodeEntryArgs('src/main.ts'), {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: '0',
      METRICS_PORT: '0',
      MASTER_KEYS: testMasterKeys(),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  const port = await new Promise<number>((resolve, reject) => {
    let pending = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        logs.push(line);
        const record = JSON.parse(line) as { msg?: string; port?: number };
        if (record.msg === 'listening' && typeof record.port === 'number') resolve(record.port);
      }
    });
    exited.then((code) => reject(new Error(`service exited with ${code} before listening`)));
  });
  return { child, port, logs, exited };
}

/** Runs `src/main.ts` expecting it to stop by itself (a config error). */
export function runServiceToExit(
  env: Readonly<Record<string, string>>,
  timeoutMs = 30_000,
): Promise<ExitResult> {
  const child = spawn(process.execPath, nodeEntryArgs('src/main.ts'), {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

/** PATH without any directory that holds a grpcurl: what a newcomer has. */
export function pathWithoutGrpcurl(): string {
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter((dir) => dir !== '' && !existsSync(path.join(dir, 'grpcurl')))
    .join(path.delimiter);
}
