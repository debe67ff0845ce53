/**
 * Local services for development and tests (no Docker here): FerretDB
 * (./ferretdb.ts, on PostgreSQL by default) and Redis as child processes on
 * loopback ports, killed when this process exits. The installers live in
 * ./go-tools.ts, ./debian-packages.ts and ./postgres.ts, process handling in
 * ./child-processes.ts; this file re-exports what callers import from it.
 *
 * Used by `scripts/start-local.ts`, `scripts/run-tests.ts`, the benchmarks
 * in load/ and by individual tests (through `test/helpers/services.ts`).
 */
import net from 'node:net';
import {
  debug,
  killAndWait,
  LogTail,
  onFreePort,
  portInUse,
  type RunningProcess,
  spawnTracked,
  waitReady,
} from './child-processes.js';
import { ensureRedisServer } from './debian-packages.js';

export { freePort, killRecordedChildren, PID_DIR_ENV } from './child-processes.js';
export {
  CHROMIUM_PATH,
  ensureChromium,
  ensureComposeCommand,
  ensureRedisServer,
} from './debian-packages.js';
export {
  FERRETDB_BACKEND_ENV,
  type FerretDbBackend,
  type FerretDbHandle,
  type FerretDbOptions,
  ferretDbBackendFromEnv,
  startFerretDb,
} from './ferretdb.js';
export { ensureGoTool, GO_TOOLS, type GoToolName, TOOLS_BIN } from './go-tools.js';
export { ensurePostgres } from './postgres.js';
export { REPO_ROOT } from './repo-root.js';

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

  const started = await onFreePort('redis-server', options.port, async (port) => ({
    port,
    running: await launch(port),
  }));
  const { port } = started;
  let current: RunningProcess | undefined = started.running;
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
