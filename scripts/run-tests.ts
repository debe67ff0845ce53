/**
 * `npm test`: install the tools the tests need, start one FerretDB and one
 * Redis on free loopback ports, run ava (TAP reporter) against them, stop
 * them, and print as the very last line `N passed, N failed[, N skipped]`.
 *
 * Extra arguments go to ava: `npm test -- test/foo.test.ts`.
 * Without them the suite runs in two passes: every file but test/chaos with
 * ava's usual concurrency, then test/chaos one file at a time, so the chaos
 * files' time bounds measure the service and not their neighbours' load on
 * this machine's two cores.
 * KEEP_TEST_DATA=1 keeps the temporary folder (FerretDB's SQLite files).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureClientTools } from './lib/client-tools.js';
import {
  ensureChromium,
  ensureGoTool,
  ensureRedisServer,
  type FerretDbHandle,
  killRecordedChildren,
  PID_DIR_ENV,
  REPO_ROOT,
  type RedisHandle,
  startFerretDb,
  startRedis,
} from './lib/local-services.js';

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

function log(message: string): void {
  process.stderr.write(`[run-tests] ${message}\n`);
}

/**
 * Reads ava's TAP output line by line. The summary at the end (`# pass N`,
 * `# fail N`, `# skip N`) is authoritative; supertap counts crashes and todo
 * tests in `# fail`, so todo tests (`not ok N - title # TODO`) are moved to
 * skipped. Without a summary (ava killed), the `ok` / `not ok` lines count.
 */
class TapCounter {
  private pending = '';
  private okLines = 0;
  private notOkLines = 0;
  private skipLines = 0;
  private todoLines = 0;
  private summary: { pass?: number; fail?: number; skip?: number } = {};

  push(chunk: string): void {
    const text = this.pending + chunk;
    const lines = text.split('\n');
    this.pending = lines.pop() ?? '';
    for (const line of lines) this.line(line.replace(/\r$/, ''));
  }

  end(): void {
    if (this.pending !== '') this.line(this.pending);
    this.pending = '';
  }

  private line(line: string): void {
    const summary = /^# (pass|fail|skip) (\d+)$/.exec(line);
    if (summary?.[1] !== undefined && summary[2] !== undefined) {
      const key = summary[1] as 'pass' | 'fail' | 'skip';
      this.summary[key] = Number(summary[2]);
      return;
    }
    if (/^not ok \d+\b.*# TODO$/.test(line)) this.todoLines += 1;
    else if (/^not ok \d+\b/.test(line)) this.notOkLines += 1;
    else if (/^ok \d+\b.*# SKIP$/.test(line)) this.skipLines += 1;
    else if (/^ok \d+\b/.test(line)) this.okLines += 1;
  }

  counts(): Counts {
    const { pass, fail, skip } = this.summary;
    if (pass !== undefined && fail !== undefined) {
      return {
        passed: pass,
        failed: Math.max(0, fail - this.todoLines),
        skipped: (skip ?? 0) + this.todoLines,
      };
    }
    return {
      passed: this.okLines,
      failed: this.notOkLines,
      skipped: this.skipLines + this.todoLines,
    };
  }
}

function hasOption(args: readonly string[], long: string, short?: string): boolean {
  return args.some(
    (arg) => arg === long || arg.startsWith(`${long}=`) || (short !== undefined && arg === short),
  );
}

function runAva(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  counter: TapCounter,
  onChild: (child: ChildProcess) => void,
) {
  return new Promise<{
    exitCode: number | null;
    signal: NodeJS.Signals | null;
    counts: Counts;
    error?: string;
  }>((resolve) => {
    const avaArgs = [...args];
    if (!hasOption(avaArgs, '--tap', '-t')) avaArgs.unshift('--tap');
    if (!hasOption(avaArgs, '--concurrency', '-c')) avaArgs.unshift('--concurrency=2');
    const avaBin = path.join(REPO_ROOT, 'node_modules', '.bin', 'ava');
    const shown =
      avaArgs.length > 8 ? [...avaArgs.slice(0, 4), `... (${avaArgs.length} in all)`] : avaArgs;
    log(`ava ${shown.join(' ')}`);
    const child = spawn(avaBin, avaArgs, {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    onChild(child);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      process.stdout.write(chunk);
      counter.push(chunk);
    });
    let spawnError: string | undefined;
    child.once('error', (error) => {
      spawnError = `cannot run ava (${avaBin}): ${error.message}`;
    });
    child.once('close', (exitCode, signal) => {
      counter.end();
      resolve({
        exitCode,
        signal,
        counts: counter.counts(),
        ...(spawnError ? { error: spawnError } : {}),
      });
    });
  });
}

interface AvaPass {
  readonly name: string;
  readonly args: readonly string[];
}

const chaosDir = 'test/chaos';

/** The default run: everything but the chaos suite, then the chaos suite alone. */
async function defaultPasses(): Promise<AvaPass[]> {
  const entries = await readdir(path.join(REPO_ROOT, 'test'), { recursive: true });
  const files = entries
    .map((entry) => path.posix.join('test', entry.split(path.sep).join('/')))
    .filter((file) => file.endsWith('.test.ts'))
    .sort();
  const chaos = files.filter((file) => file.startsWith(`${chaosDir}/`));
  const rest = files.filter((file) => !file.startsWith(`${chaosDir}/`));
  return [
    { name: 'main', args: rest },
    ...(chaos.length > 0 ? [{ name: 'chaos', args: ['--concurrency=1', ...chaos] }] : []),
  ];
}

function addCounts(a: Counts, b: Counts): Counts {
  return {
    passed: a.passed + b.passed,
    failed: a.failed + b.failed,
    skipped: a.skipped + b.skipped,
  };
}

async function main(): Promise<{ exitCode: number; counts: Counts }> {
  const avaArgs = process.argv.slice(2);
  let ferret: FerretDbHandle | undefined;
  let redis: RedisHandle | undefined;
  let ava: ChildProcess | undefined;
  let counter = new TapCounter();
  /** Counts of the passes that have ended. */
  let counts: Counts = { passed: 0, failed: 0, skipped: 0 };
  let exitCode = 0;

  const tmp = await mkdtemp(path.join(os.tmpdir(), 'billing-tests-'));
  const pidDir = path.join(tmp, 'pids');
  await mkdir(pidDir, { recursive: true });

  // Ctrl-C / SIGTERM: stop ava and its workers' services too (the services we
  // started ourselves are killed by local-services' exit hook).
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      ava?.kill('SIGTERM');
      killRecordedChildren(pidDir);
      process.stdout.write(`\n${summaryLine(addCounts(counts, counter.counts()))}\n`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }

  try {
    const started = Date.now();
    const [ferretdbBin, grpcurlBin, stripeMockBin, redisServerBin, chromiumBin] = await Promise.all(
      [
        ensureGoTool('ferretdb'),
        ensureGoTool('grpcurl'),
        ensureGoTool('stripe-mock'),
        ensureRedisServer(),
        ensureChromium(),
        // Go plugins, Python venv, Go module deps for clients/ (test/clients, test/contract).
        ensureClientTools(),
      ],
    );
    [ferret, redis] = await Promise.all([
      startFerretDb({ dataDir: path.join(tmp, 'ferretdb'), binary: ferretdbBin }),
      startRedis({ binary: redisServerBin }),
    ]);
    log(
      `FerretDB at ${ferret.url}, Redis at ${redis.url} (ready in ${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );

    const env: NodeJS.ProcessEnv = {
      ...process.env,
      TEST_MONGODB_URL: ferret.url,
      TEST_REDIS_URL: redis.url,
      GRPCURL_BIN: grpcurlBin,
      STRIPE_MOCK_BIN: stripeMockBin,
      REDIS_SERVER_BIN: redisServerBin,
      FERRETDB_BIN: ferretdbBin,
      CHROMIUM_BIN: chromiumBin,
      [PID_DIR_ENV]: pidDir,
    };
    const passes = avaArgs.length > 0 ? [{ name: 'ava', args: avaArgs }] : await defaultPasses();
    for (const pass of passes) {
      if (passes.length > 1) log(`pass ${pass.name}`);
      const result = await runAva(pass.args, env, counter, (child) => {
        ava = child;
      });
      ava = undefined;
      counts = addCounts(counts, result.counts);
      counter = new TapCounter(); // counted in `counts` now: a signal must not count it twice
      if (result.error !== undefined) {
        log(result.error);
        exitCode = 1;
      } else if (result.exitCode !== 0) {
        log(`ava exited with ${result.signal ?? `code ${result.exitCode}`} (pass ${pass.name})`);
        exitCode = 1;
      }
      if (result.counts.passed + result.counts.failed === 0) {
        log(`no test ran (pass ${pass.name})`);
        exitCode = 1;
      }
    }
    if (counts.failed > 0) exitCode = 1;
  } catch (error) {
    log(
      `test setup failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
    exitCode = 1;
  } finally {
    const leftovers = killRecordedChildren(pidDir);
    if (leftovers > 0) log(`killed ${leftovers} service process(es) left behind by test workers`);
    await Promise.all([ferret?.stop(), redis?.stop()]).catch((error: unknown) => {
      log(`stopping services failed: ${String(error)}`);
    });
    if (process.env.KEEP_TEST_DATA === '1') log(`kept ${tmp}`);
    else
      await rm(tmp, { recursive: true, force: true }).catch((error: unknown) =>
        log(`could not remove ${tmp}: ${String(error)}`),
      );
  }
  return { exitCode, counts };
}

function summaryLine({ passed, failed, skipped }: Counts): string {
  return `${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`;
}

const { exitCode, counts } = await main();
// Nothing may be printed after this line: it is the run's result.
process.stdout.write(`\n${summaryLine(counts)}\n`, () => process.exit(exitCode));
