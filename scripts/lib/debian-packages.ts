/**
 * Debian packages the local services need (redis-server, chromium,
 * docker-compose, postgresql), installed with apt-get only when absent, one
 * install at a time (apt-get holds dpkg's lock).
 */
import {
  debug,
  execFileAsync,
  findOnPath,
  isExecutable,
  log,
  runLogged,
  SBIN_DIRS,
} from './child-processes.js';

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
export function aptGetInstall(
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

export async function aptGetInstallNow(
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

/** Where Debian's `chromium` package puts the browser (what playwright-core launches). */
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
