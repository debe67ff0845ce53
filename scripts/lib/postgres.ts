/**
 * PostgreSQL 15 (Debian's package) as the storage of the local FerretDB:
 * one server per FerretDB, on a loopback port, with its socket in its data
 * folder. An event trigger gives every index FerretDB creates a GIN
 * companion, because FerretDB's PostgreSQL backend filters with
 * `_jsonb->'field' @> value`, which its own B-tree indexes on
 * `_jsonb->'field'` cannot serve (docs/ferretdb.md, finding 7).
 */
import { rmSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  execFileAsync,
  isExecutable,
  killAndWait,
  LogTail,
  log,
  portInUse,
  type RunningProcess,
  spawnTracked,
  waitReady,
} from './child-processes.js';
import { aptGetInstall } from './debian-packages.js';

/** Debian's install folder for PostgreSQL 15 (not on PATH). */
export const POSTGRES_BIN_DIR = '/usr/lib/postgresql/15/bin';

/** The database FerretDB keeps everything in (one schema per MongoDB database). */
export const FERRETDB_PG_DATABASE = 'ferretdb';

/**
 * Makes a GIN (jsonb_path_ops) index beside every B-tree index on a `_jsonb`
 * expression, so FerretDB's `@>` filters use an index. Skips GIN indexes
 * (its own, which fire the trigger again). Names come from a hash of table
 * and expression; IF NOT EXISTS dedupes a field shared by several indexes.
 * No pending list (fastupdate off): with one, every read scans the entries
 * inserted since the last vacuum, which after a bulk insert halved the
 * webhook rate until autovacuum came by.
 * A nested field (`a.b`) gets a companion on `_jsonb->'a'->'b'`, which
 * FerretDB's `_jsonb#>'{a,b}'` filter does not use; none of ours is nested.
 */
const GIN_COMPANION_SQL = `
CREATE OR REPLACE FUNCTION ferretdb_gin_companions() RETURNS event_trigger
LANGUAGE plpgsql AS $fn$
DECLARE
  cmd record;
  tbl regclass;
  keys int;
  expr text;
BEGIN
  FOR cmd IN SELECT objid FROM pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE INDEX' LOOP
    SELECT i.indrelid::regclass, i.indnkeyatts INTO tbl, keys
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
      WHERE i.indexrelid = cmd.objid AND a.amname = 'btree';
    CONTINUE WHEN NOT FOUND;
    FOR k IN 1..keys LOOP
      expr := pg_get_indexdef(cmd.objid, k, false);
      CONTINUE WHEN position('_jsonb' in expr) = 0;
      EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %s USING gin ((%s) jsonb_path_ops) WITH (fastupdate = off)',
        'gin_' || md5(tbl::text || expr), tbl, expr);
    END LOOP;
  END LOOP;
END
$fn$;
DROP EVENT TRIGGER IF EXISTS ferretdb_gin_companions;
CREATE EVENT TRIGGER ferretdb_gin_companions ON ddl_command_end
  WHEN TAG IN ('CREATE INDEX') EXECUTE FUNCTION ferretdb_gin_companions();
`;

/**
 * Server settings. Custom plans always: FerretDB prepares its statements
 * with the field name as a parameter (`_jsonb->$1 @> $2`), and only a plan
 * made for the actual name can match an index expression. Statistics soon
 * after a bulk load: until ANALYZE has seen that every document has the
 * same `project_id`, the planner ANDs that GIN index (all rows) with the
 * selective one, 13 ms instead of 1 ms at 100,000 documents. Durable: the
 * defaults; otherwise no disk syncs (tests, benchmarks: the data is thrown
 * away).
 */
function serverSettings(durable: boolean): string[] {
  const always = [
    'plan_cache_mode=force_custom_plan',
    'jit=off',
    'listen_addresses=127.0.0.1',
    'autovacuum_naptime=5s',
    'autovacuum_analyze_scale_factor=0.05',
  ];
  const fast = ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off'];
  return [...always, ...(durable ? [] : fast)];
}

export interface PostgresOptions {
  /**
   * Durable (start:local): data in `dataDir` (kept across runs), disk syncs
   * on. Otherwise the data lives in a temporary folder (in /dev/shm when
   * there is one) removed when the server stops or this process exits.
   */
  readonly durable: boolean;
  /** Where durable data lives (required when durable). */
  readonly dataDir?: string;
  /** Port on 127.0.0.1; a free one when omitted. */
  readonly port: number;
  /** How long to wait for the first query to answer (default 60 s). */
  readonly readyTimeoutMs?: number;
}

export interface PostgresHandle {
  /** `postgres://postgres@127.0.0.1:PORT/ferretdb`, FerretDB's `--postgresql-url`. */
  readonly url: string;
  readonly port: number;
  /** Fast shutdown; waits for the exit; keeps the data (idempotent). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data (no-op while running). */
  start(): Promise<void>;
  /** Stops it and removes a temporary data folder (else removed when this process exits). */
  removeData(): Promise<void>;
  logTail(): string;
}

/**
 * Makes sure PostgreSQL 15's binaries are there: installs Debian's
 * `postgresql-15` when absent, and stops the cluster its package starts (we
 * run our own servers).
 */
export async function ensurePostgres(): Promise<string> {
  const postgres = path.join(POSTGRES_BIN_DIR, 'postgres');
  if (isExecutable(postgres)) return POSTGRES_BIN_DIR;
  const started = Date.now();
  const run = await aptGetInstall('postgresql', ['postgresql-15']);
  await run(['service', 'postgresql', 'stop']);
  await run(['systemctl', 'disable', '--now', 'postgresql']);
  await run(['update-rc.d', 'postgresql', 'disable']);
  if (!isExecutable(postgres))
    throw new Error(`apt-get installed postgresql-15 but ${postgres} is missing`);
  log(`installed postgresql-15 in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return POSTGRES_BIN_DIR;
}

interface RunAs {
  readonly uid?: number;
  readonly gid?: number;
}

/** PostgreSQL refuses to run as root: as root, run it as the `postgres` user. */
async function postgresUser(): Promise<RunAs> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return {};
  const passwd = await readFile('/etc/passwd', 'utf8');
  const fields = passwd
    .split('\n')
    .map((line) => line.split(':'))
    .find((entry) => entry[0] === 'postgres');
  if (fields === undefined) throw new Error('running as root and there is no postgres user');
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

/** The folder the server owns: a temporary one, or the durable `dataDir` (created when missing). */
async function prepareDataDir(options: PostgresOptions, user: RunAs): Promise<string> {
  let dir: string;
  if (options.durable) {
    if (options.dataDir === undefined) throw new Error('a durable PostgreSQL needs a dataDir');
    dir = path.resolve(options.dataDir);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (user.uid !== undefined) await requireTraversable(path.dirname(dir));
  } else {
    const root = (await stat('/dev/shm').catch(() => undefined))?.isDirectory()
      ? '/dev/shm'
      : os.tmpdir();
    dir = await mkdtemp(path.join(root, 'ferretdb-pg-'));
  }
  if (user.uid !== undefined && user.gid !== undefined) await chown(dir, user.uid, user.gid);
  return dir;
}

/** The `postgres` user must reach a durable data folder through every parent folder. */
async function requireTraversable(dir: string): Promise<void> {
  for (let current = dir; ; current = path.dirname(current)) {
    const { mode } = await stat(current);
    if ((mode & 0o001) === 0)
      throw new Error(
        `PostgreSQL runs as the postgres user, which cannot enter ${current} (mode ${(mode & 0o777).toString(8)}): chmod o+x it or start FerretDB with FERRETDB_BACKEND=sqlite`,
      );
    if (path.dirname(current) === current) return;
  }
}

async function initialized(dataDir: string): Promise<boolean> {
  return (await stat(path.join(dataDir, 'PG_VERSION')).catch(() => undefined)) !== undefined;
}

async function initDb(dataDir: string, user: RunAs, durable: boolean): Promise<void> {
  const args = ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C'];
  // FerretDB accepts only UTF8 with the C, POSIX or en_US.UTF8 locales.
  await execFileAsync(path.join(POSTGRES_BIN_DIR, 'initdb'), durable ? args : [...args, '-N'], {
    ...user,
    cwd: '/',
  });
}

/** `psql -c` against the server (one implicit transaction); its unaligned output. */
async function psql(port: number, database: string, sql: string): Promise<string> {
  const { stdout } = await execFileAsync(
    path.join(POSTGRES_BIN_DIR, 'psql'),
    [
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-U',
      'postgres',
      '-d',
      database,
      '-At',
      '-v',
      'ON_ERROR_STOP=1',
      '-c',
      sql,
    ],
    { timeout: 30_000 },
  );
  return stdout.trim();
}

async function createFerretDbDatabase(port: number): Promise<void> {
  const exists = await psql(
    port,
    'postgres',
    `SELECT count(*) FROM pg_database WHERE datname = '${FERRETDB_PG_DATABASE}';`,
  );
  if (!exists.split('\n').some((line) => line.trim() === '1'))
    await psql(port, 'postgres', `CREATE DATABASE ${FERRETDB_PG_DATABASE};`);
  await psql(port, FERRETDB_PG_DATABASE, GIN_COMPANION_SQL);
}

/** Unix socket paths are limited to 107 bytes: no socket when the folder's path is too long. */
function socketDirectory(dataDir: string, port: number): string {
  return `${dataDir}/.s.PGSQL.${port}`.length < 100 ? dataDir : '';
}

/** Starts PostgreSQL, creates FerretDB's database and the GIN companion trigger. */
export async function startPostgres(options: PostgresOptions): Promise<PostgresHandle> {
  await ensurePostgres();
  const user = await postgresUser();
  const dataDir = await prepareDataDir(options, user);
  const removeSync = (): void => rmSync(dataDir, { recursive: true, force: true });
  if (!options.durable) process.once('exit', removeSync);
  if (!(await initialized(dataDir))) await initDb(dataDir, user, options.durable);

  const { port } = options;
  const settings = [
    ...serverSettings(options.durable),
    `unix_socket_directories=${socketDirectory(dataDir, port)}`,
  ];
  const tail = new LogTail();
  const binary = path.join(POSTGRES_BIN_DIR, 'postgres');
  const launch = async (): Promise<RunningProcess> => {
    if (await portInUse(port)) throw new Error(`port ${port} on 127.0.0.1 is already in use`);
    const running = spawnTracked(
      binary,
      ['-D', dataDir, '-p', String(port), ...settings.flatMap((setting) => ['-c', setting])],
      tail,
      { ...user, cwd: '/' },
    );
    await waitReady(
      `PostgreSQL on port ${port} (data in ${dataDir})`,
      running,
      async () => (await psql(port, 'postgres', 'SELECT 1;')) !== '',
      options.readyTimeoutMs ?? 60_000,
    );
    return running;
  };
  let current: RunningProcess | undefined = await launch();
  await createFerretDbDatabase(port);

  const stop = async (): Promise<void> => {
    const proc = current;
    current = undefined;
    if (proc !== undefined) await killAndWait(proc, 10_000, 'SIGINT');
  };
  return {
    url: `postgres://postgres@127.0.0.1:${port}/${FERRETDB_PG_DATABASE}`,
    port,
    stop,
    start: async () => {
      if (current === undefined || current.hasExited) current = await launch();
    },
    removeData: async () => {
      await stop();
      if (options.durable) return;
      await rm(dataDir, { recursive: true, force: true });
      process.off('exit', removeSync);
    },
    logTail: () => tail.text(),
  };
}
