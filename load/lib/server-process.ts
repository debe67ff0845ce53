/** A server under load as its own process (it gets its own core), found by its "listening" log line. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { REPO_ROOT } from '../../scripts/lib/local-services.js';
import { nodeEntryArgs } from '../../scripts/lib/node-entry.js';

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly port: number;
  /** SIGTERM, then SIGKILL after 10 s; resolves once it exited. */
  stop(): Promise<void>;
}

/**
 * Runs `node <args>` in the repository with only PATH and `env`; resolves
 * once it listens. BENCH_SERVER_NODE_ARGS adds node flags in front (for
 * example `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile the service);
 * BENCH_SERVICE_LOG appends its log lines to a file.
 */
export function spawnServer(args: string[], env: Record<string, string>): Promise<ServerProcess> {
  const nodeFlags = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  return spawnProgram(process.execPath, [...nodeFlags, ...args], env);
}

/** Runs `command` (any program printing the "listening" line) in the repository, as spawnServer does. */
export async function spawnProgram(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<ServerProcess> {
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // BENCH_SERVICE_LOG=FILE keeps the server's log lines (warnings, 5xx answers) there.
  const logFile = process.env.BENCH_SERVICE_LOG;
  if (logFile) child.stdout?.pipe(createWriteStream(logFile, { flags: 'a' }));
  const port = await new Promise<number>((resolve, reject) => {
    let pending = '';
    const onData = (chunk: Buffer) => {
      pending += chunk.toString();
      const match = /"msg":"listening".*?"port":(\d+)/.exec(pending);
      if (!match) return;
      // Stop collecting (the logs go on under load) but keep draining the pipe.
      child.stdout?.off('data', onData);
      child.stdout?.resume();
      resolve(Number(match[1]));
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { child, port, stop: () => stopChild(child) };
}

/**
 * The service (src/main.ts) with `env`, on a free loopback port; info logs
 * carry its "listening" line. `nodeArgs` go after tsx is loaded, so they can
 * preload a benchmark's own TypeScript probe (load/lib/memory-probe.ts).
 */
export function spawnService(
  env: Record<string, string>,
  nodeArgs: readonly string[] = [],
): Promise<ServerProcess> {
  return spawnServer(nodeEntryArgs('src/main.ts', nodeArgs), {
    ...env,
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    PORT: '0',
    METRICS_PORT: '0',
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
