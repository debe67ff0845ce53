/**
 * FerretDB 1.24, the local MongoDB, as a child process on 127.0.0.1. Its
 * storage is PostgreSQL by default (a server of its own, ./postgres.ts), or
 * SQLite with `backend: 'sqlite'` or `FERRETDB_BACKEND=sqlite`. Why
 * PostgreSQL: on SQLite every filter but `_id` equality scans, and `_id`
 * lookups grow with the collection too (docs/ferretdb.md, findings 6 and 7).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { MongoClient } from 'mongodb';
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
import { ensureGoTool } from './go-tools.js';
import { type PostgresHandle, startPostgres } from './postgres.js';

export type FerretDbBackend = 'postgresql' | 'sqlite';

/** `FERRETDB_BACKEND` picks the backend when the caller does not: PostgreSQL unless it says sqlite. */
export const FERRETDB_BACKEND_ENV = 'FERRETDB_BACKEND';

export function ferretDbBackendFromEnv(env: NodeJS.ProcessEnv = process.env): FerretDbBackend {
  const value = env[FERRETDB_BACKEND_ENV];
  if (value === undefined || value === '' || value === 'postgresql') return 'postgresql';
  if (value === 'sqlite') return 'sqlite';
  throw new Error(`${FERRETDB_BACKEND_ENV}=${value}: expected postgresql or sqlite`);
}

export interface FerretDbOptions {
  /** Folder for the SQLite files, or for a durable PostgreSQL's (created if missing). */
  dataDir: string;
  /** Port on 127.0.0.1; a free one when omitted. */
  port?: number;
  /** The ferretdb binary; `ensureGoTool('ferretdb')` when omitted. */
  binary?: string;
  /** How long to wait for a successful `ping` (default 30 s). */
  readyTimeoutMs?: number;
  /** Default: `FERRETDB_BACKEND`, else PostgreSQL. */
  backend?: FerretDbBackend;
  /**
   * PostgreSQL only. Durable (start:local): data in `dataDir/postgres` with
   * disk syncs on. Otherwise (tests, benchmarks) in a temporary folder with
   * no syncs, removed by `removeData()` or when this process exits.
   */
  durable?: boolean;
}

export interface FerretDbHandle {
  /** `mongodb://127.0.0.1:PORT/` */
  readonly url: string;
  readonly port: number;
  readonly backend: FerretDbBackend;
  /** Stops FerretDB and its PostgreSQL and waits for them to exit; keeps the data (idempotent). */
  stop(): Promise<void>;
  /** Stops (if running) and starts again on the same port and data. */
  restart(): Promise<void>;
  /** Stops, and removes a temporary PostgreSQL's data (SQLite files stay in `dataDir`). */
  removeData(): Promise<void>;
  /** The last lines FerretDB (and PostgreSQL) logged. */
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

async function startBackend(
  options: FerretDbOptions,
  backend: FerretDbBackend,
  dataDir: string,
): Promise<{ args: string[]; postgres?: PostgresHandle }> {
  if (backend === 'sqlite') return { args: ['--handler=sqlite', `--sqlite-url=file:${dataDir}/`] };
  const durable = options.durable ?? false;
  const postgres = await onFreePort('PostgreSQL', undefined, (port) =>
    startPostgres({ durable, dataDir: path.join(dataDir, 'postgres'), port }),
  );
  return { args: ['--handler=postgresql', `--postgresql-url=${postgres.url}`], postgres };
}

/**
 * Start FerretDB 1.24 on 127.0.0.1 (on PostgreSQL unless told otherwise),
 * and wait until it answers a MongoDB `ping`. With no `port`, picks a free
 * one (and retries with another if that one was taken in between).
 */
export async function startFerretDb(options: FerretDbOptions): Promise<FerretDbHandle> {
  const binary = options.binary ?? (await ensureGoTool('ferretdb'));
  const backend = options.backend ?? ferretDbBackendFromEnv();
  const dataDir = path.resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true });
  const timeoutMs = options.readyTimeoutMs ?? 30_000;
  const tail = new LogTail();
  const { args, postgres } = await startBackend(options, backend, dataDir);

  const launch = async (port: number): Promise<RunningProcess> => {
    if (await portInUse(port)) throw new Error(`port ${port} on 127.0.0.1 is already in use`);
    const url = `mongodb://127.0.0.1:${port}/`;
    const running = spawnTracked(
      binary,
      [
        ...args,
        `--listen-addr=127.0.0.1:${port}`,
        '--state-dir=-',
        '--debug-addr=-',
        '--telemetry=disable',
        '--log-level=warn',
      ],
      tail,
    );
    await waitReady(
      `FerretDB (${backend}) on port ${port} (data in ${dataDir})`,
      running,
      () => mongoPing(url),
      timeoutMs,
    );
    return running;
  };

  const started = await onFreePort('FerretDB', options.port, async (port) => ({
    port,
    running: await launch(port),
  })).catch(async (error: unknown) => {
    await postgres?.removeData();
    throw error;
  });
  const { port } = started;
  let current: RunningProcess | undefined = started.running;
  const stop = async (): Promise<void> => {
    const proc = current;
    current = undefined;
    if (proc !== undefined) await killAndWait(proc);
    await postgres?.stop();
  };
  return {
    url: `mongodb://127.0.0.1:${port}/`,
    port,
    backend,
    stop,
    restart: async () => {
      await stop();
      await postgres?.start();
      current = await launch(port);
    },
    removeData: async () => {
      await stop();
      await postgres?.removeData();
    },
    logTail: () =>
      postgres === undefined ? tail.text() : `${tail.text()}\n[postgres]\n${postgres.logTail()}`,
  };
}
