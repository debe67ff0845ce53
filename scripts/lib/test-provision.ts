/**
 * Provisions the needs of a test run (scripts/lib/test-needs.ts): installs
 * only the tools the selected files need, starts the one shared FerretDB and
 * Redis only when a file needs them, and hands the tests their addresses in
 * the environment. TEST_NEEDS lists what was provisioned, so a test helper
 * can tell a file that forgot its `// needs:` header why it has nothing.
 *
 * `provisionStaged` lets the tests start before every tool is there: the
 * servers come first (FerretDB is the longest Go build, and it gets the
 * cores to itself), the Debian and Python installs go on beside it, and the
 * other Go builds start once FerretDB is built; a pass of tests waits only
 * for the tools its own files need.
 */
import path from 'node:path';
import { ensureGoClientTools, ensurePythonClientTools } from './client-tools.js';
import {
  ensureChromium,
  ensureComposeCommand,
  ensureGoTool,
  ensurePostgres,
  ensureRedisServer,
  type FerretDbHandle,
  ferretDbBackendFromEnv,
  type RedisHandle,
  startFerretDb,
  startRedis,
} from './local-services.js';
import { TEST_NEEDS_ENV, type TestNeed } from './test-needs.js';

/** Every variable provisioning may set: the runner drops inherited values of these. */
export const PROVISIONED_ENV: readonly string[] = [
  TEST_NEEDS_ENV,
  'TEST_MONGODB_URL',
  'TEST_REDIS_URL',
  'FERRETDB_BIN',
  'REDIS_SERVER_BIN',
  'STRIPE_MOCK_BIN',
  'GRPCURL_BIN',
  'GHZ_BIN',
  'CHROMIUM_BIN',
];

export interface Provisioned {
  /** Variables for the test workers. */
  readonly env: Readonly<Record<string, string>>;
  /** One line for the log: what runs where. */
  readonly summary: string;
  stop(): Promise<void>;
}

type Installed = Readonly<Record<string, string>>;

/** The needs that are servers the run starts (every other need is a tool). */
const serverNeeds: ReadonlySet<TestNeed> = new Set(['mongodb', 'redis']);
/** Tools built with `go install`: CPU-heavy, so they start after FerretDB's build. */
const goBuildNeeds: ReadonlySet<TestNeed> = new Set(['stripe-mock', 'grpcurl', 'ghz', 'go']);

export const isServerNeed = (need: TestNeed): boolean => serverNeeds.has(need);

/** Installs one need's tools (no servers yet); resolves with its variables. */
async function install(need: TestNeed): Promise<Installed> {
  switch (need) {
    case 'mongodb': {
      // FerretDB's PostgreSQL backend (the default) needs Debian's postgresql-15.
      const [binary] = await Promise.all([
        ensureGoTool('ferretdb'),
        ferretDbBackendFromEnv() === 'postgresql' ? ensurePostgres() : undefined,
      ]);
      return { FERRETDB_BIN: binary };
    }
    case 'redis':
      return { REDIS_SERVER_BIN: await ensureRedisServer() };
    case 'stripe-mock':
      return { STRIPE_MOCK_BIN: await ensureGoTool('stripe-mock') };
    case 'grpcurl':
      return { GRPCURL_BIN: await ensureGoTool('grpcurl') };
    case 'ghz':
      return { GHZ_BIN: await ensureGoTool('ghz') };
    case 'chromium':
      return { CHROMIUM_BIN: await ensureChromium() };
    case 'go':
      await ensureGoClientTools();
      return {};
    case 'python':
      await ensurePythonClientTools();
      return {};
    case 'compose':
      await ensureComposeCommand();
      return {};
  }
}

/** Installs and starts what `needs` name; `dataDir` holds FerretDB's files. */
export async function provisionNeeds(
  needs: readonly TestNeed[],
  dataDir: string,
): Promise<Provisioned> {
  const installed = Object.assign({}, ...(await Promise.all(needs.map(install)))) as Record<
    string,
    string
  >;
  let ferret: FerretDbHandle | undefined;
  let redis: RedisHandle | undefined;
  const stop = async (): Promise<void> => {
    await Promise.all([ferret?.removeData(), redis?.stop()]);
  };
  // Both start at once; one that started is stopped if the other failed.
  const started = await Promise.allSettled([
    installed.FERRETDB_BIN === undefined
      ? undefined
      : startFerretDb({
          dataDir: path.join(dataDir, 'ferretdb'),
          binary: installed.FERRETDB_BIN,
        }).then((handle) => {
          ferret = handle;
        }),
    installed.REDIS_SERVER_BIN === undefined
      ? undefined
      : startRedis({ binary: installed.REDIS_SERVER_BIN }).then((handle) => {
          redis = handle;
        }),
  ]);
  const failed = started.find((result) => result.status === 'rejected');
  if (failed !== undefined) {
    await stop().catch(() => undefined); // the error that matters is the start's
    throw failed.reason;
  }
  const env: Record<string, string> = { ...installed, [TEST_NEEDS_ENV]: needs.join(' ') };
  if (ferret !== undefined) env.TEST_MONGODB_URL = ferret.url;
  if (redis !== undefined) env.TEST_REDIS_URL = redis.url;
  const servers = [
    ferret === undefined ? undefined : `FerretDB (${ferret.backend}) at ${ferret.url}`,
    redis === undefined ? undefined : `Redis at ${redis.url}`,
  ].filter((part) => part !== undefined);
  const summary = `needs: ${needs.length === 0 ? 'none' : needs.join(' ')}${
    servers.length === 0 ? '' : `; ${servers.join(', ')}`
  }`;
  return { env, summary, stop };
}

/** The servers up, the other tools installing; `envFor` waits for the ones a pass needs. */
export interface StagedProvisioning {
  readonly servers: Provisioned;
  /** The test workers' variables for files that need `needs` (every one of the run's). */
  envFor(needs: readonly TestNeed[]): Promise<Record<string, string>>;
}

export async function provisionStaged(
  needs: readonly TestNeed[],
  dataDir: string,
): Promise<StagedProvisioning> {
  const installs = new Map<TestNeed, Promise<Installed>>();
  const begin = (need: TestNeed) => {
    const installing = install(need);
    installing.catch(() => undefined); // reported by the pass that waits for it
    installs.set(need, installing);
  };
  const tools = needs.filter((need) => !serverNeeds.has(need));
  for (const need of tools) if (!goBuildNeeds.has(need)) begin(need);
  const servers = await provisionNeeds(
    needs.filter((need) => serverNeeds.has(need)),
    dataDir,
  ).catch(async (error: unknown) => {
    await Promise.allSettled(installs.values());
    throw error;
  });
  for (const need of tools) if (goBuildNeeds.has(need)) begin(need);
  return {
    servers,
    async envFor(passNeeds) {
      const ready = passNeeds.filter((need) => installs.has(need));
      const installed = await Promise.all(ready.map((need) => installs.get(need)));
      const provisioned = [...needs.filter((need) => serverNeeds.has(need)), ...ready];
      return Object.assign({}, servers.env, ...installed, {
        [TEST_NEEDS_ENV]: provisioned.join(' '),
      }) as Record<string, string>;
    },
  };
}
