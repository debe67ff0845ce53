/**
 * `npm test`: provision what the selected test files need, run ava (TAP
 * reporter) against it, stop it, and print as the very last line
 * `N passed, N failed[, N skipped]`.
 *
 * Each test file says what it needs in a header line, `// needs: mongodb
 * redis` (scripts/lib/test-needs.ts has the words); a file without one is
 * pure and gets nothing. The run provisions the union of the selected files'
 * needs: a pure file starts no FerretDB, Redis, browser or Go build.
 *
 * Extra arguments go to ava: `npm test -- test/foo.test.ts test/domain`.
 * `--unit` (`npm run test:unit`) selects every file that needs nothing.
 * Without files the suite runs in three passes: the files that need only
 * FerretDB and Redis (or nothing), started as soon as those run while the
 * other tools are still being installed (test-provision.ts,
 * `provisionStaged`); then the other files but test/chaos, once their tools
 * are there; then test/chaos one file at a time, so the chaos files' time
 * bounds measure the service and not their neighbours' load on this
 * machine's two cores (every install has finished by then). An argument that names no test file (a glob)
 * provisions everything.
 * ava runs in the compiled tree `.build/` (scripts/lib/compiled-tree.ts): the
 * same files as JavaScript, so no worker pays tsx's loader.
 * KEEP_TEST_DATA=1 keeps the temporary folder (FerretDB's SQLite files; PostgreSQL's data lives in /dev/shm and goes when the run ends).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildCompiledTree } from './lib/compiled-tree.js';
import { killRecordedChildren, PID_DIR_ENV, REPO_ROOT } from './lib/local-services.js';
import {
  ALL_TEST_NEEDS,
  parseTestNeeds,
  selectTestFiles,
  type TestNeed,
  unionNeeds,
} from './lib/test-needs.js';
import {
  isServerNeed,
  PROVISIONED_ENV,
  type Provisioned,
  provisionStaged,
} from './lib/test-provision.js';

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

/** A file argument as the compiled tree names it: `test/x.test.ts` is `test/x.test.js` there. */
function inTree(arg: string, tree: string): string {
  if (arg.startsWith('-')) return arg;
  const relative = path.isAbsolute(arg) ? path.relative(REPO_ROOT, arg) : arg;
  const compiled = relative.endsWith('.ts') ? `${relative.slice(0, -3)}.js` : relative;
  return path.isAbsolute(arg) ? path.join(tree, compiled) : compiled;
}

function runAva(
  args: readonly string[],
  tree: string,
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
    const avaArgs = args.map((arg) => inTree(arg, tree));
    if (!hasOption(avaArgs, '--tap', '-t')) avaArgs.unshift('--tap');
    if (!hasOption(avaArgs, '--concurrency', '-c')) avaArgs.unshift('--concurrency=2');
    const avaBin = path.join(REPO_ROOT, 'node_modules', '.bin', 'ava');
    const shown =
      avaArgs.length > 8 ? [...avaArgs.slice(0, 4), `... (${avaArgs.length} in all)`] : avaArgs;
    log(`ava ${shown.join(' ')}`);
    const child = spawn(avaBin, avaArgs, {
      cwd: tree,
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
  /** What its files need (the pass waits for these tools to be installed). */
  readonly needs: readonly TestNeed[];
}

const chaosDir = 'test/chaos';

/** Every test file, repo-relative with `/`, sorted. */
async function listTestFiles(): Promise<string[]> {
  const entries = await readdir(path.join(REPO_ROOT, 'test'), { recursive: true });
  return entries
    .map((entry) => path.posix.join('test', entry.split(path.sep).join('/')))
    .filter((file) => file.endsWith('.test.ts'))
    .sort();
}

/**
 * The default run: first the files that need no tool but the servers (they
 * run while the other tools are still being built), then the rest but the
 * chaos suite, then the chaos suite alone.
 */
function defaultPasses(
  files: readonly string[],
  needsOfFiles: (selected: readonly string[]) => TestNeed[],
): AvaPass[] {
  const chaos = files.filter((file) => file.startsWith(`${chaosDir}/`));
  const rest = files.filter((file) => !file.startsWith(`${chaosDir}/`));
  const serversOnly = (file: string) => needsOfFiles([file]).every(isServerNeed);
  const early = rest.filter(serversOnly);
  const late = rest.filter((file) => !serversOnly(file));
  const pass = (name: string, selected: readonly string[], options: readonly string[] = []) =>
    selected.length === 0
      ? []
      : [{ name, args: [...options, ...selected], needs: needsOfFiles(selected) }];
  return [
    ...pass('main', early),
    ...pass('tools', late),
    ...pass('chaos', chaos, ['--concurrency=1']),
  ];
}

interface RunPlan {
  readonly passes: readonly AvaPass[];
  readonly needs: readonly TestNeed[];
}

/** Which passes run, and what they need, from the runner's arguments. */
async function planRun(args: readonly string[]): Promise<RunPlan> {
  const files = await listTestFiles();
  const needsOf = new Map<string, ReadonlySet<TestNeed>>();
  for (const file of files) {
    needsOf.set(file, parseTestNeeds(file, await readFile(path.join(REPO_ROOT, file), 'utf8')));
  }
  const needsOfFiles = (selected: readonly string[]) =>
    unionNeeds(selected.map((file) => needsOf.get(file) ?? new Set<TestNeed>()));
  if (args.includes('--unit')) {
    const unit = files.filter((file) => needsOf.get(file)?.size === 0);
    const options = args.filter((arg) => arg !== '--unit');
    return { passes: [{ name: 'unit', args: [...options, ...unit], needs: [] }], needs: [] };
  }
  if (args.length === 0) {
    return { passes: defaultPasses(files, needsOfFiles), needs: needsOfFiles(files) };
  }
  // An absolute path (an editor's) selects as its repo-relative form does.
  const relative = args.map((arg) => (path.isAbsolute(arg) ? path.relative(REPO_ROOT, arg) : arg));
  const selection = selectTestFiles(relative, files);
  if (selection.unresolved) log('an argument names no test file or folder: provisioning all');
  const needs = selection.unresolved ? ALL_TEST_NEEDS : needsOfFiles(selection.files);
  return { passes: [{ name: 'ava', args, needs }], needs };
}

/** The runner's environment less what provisioning sets, so a stale value cannot leak in. */
function inheritedEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of PROVISIONED_ENV) delete env[name];
  return env;
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
  let provisioned: Provisioned | undefined;
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
    const { passes, needs } = await planRun(avaArgs);
    const tree = await buildCompiledTree(REPO_ROOT);
    const staged = await provisionStaged(needs, tmp);
    provisioned = staged.servers;
    const tools = needs.filter((need) => !isServerNeed(need));
    log(
      `${provisioned.summary} (ready in ${seconds(started)} s)${
        tools.length === 0 ? '' : `; tools: ${tools.join(' ')}`
      }`,
    );
    for (const pass of passes) {
      if (passes.length > 1) log(`pass ${pass.name}`);
      const waitStarted = Date.now();
      const passEnv = await staged.envFor(pass.needs);
      const waited = (Date.now() - waitStarted) / 1000;
      if (waited >= 1) log(`waited ${waited.toFixed(1)} s for the tools of pass ${pass.name}`);
      const env: NodeJS.ProcessEnv = { ...inheritedEnv(), ...passEnv, [PID_DIR_ENV]: pidDir };
      const passStarted = Date.now();
      const result = await runAva(pass.args, tree, env, counter, (child) => {
        ava = child;
      });
      ava = undefined;
      // Each pass's own time and the run's so far: what the 8-minute CI aim is judged by.
      log(
        `pass ${pass.name} took ${seconds(passStarted)} s (${seconds(started)} s since the start)`,
      );
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
    await provisioned?.stop().catch((error: unknown) => {
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

const seconds = (since: number): string => ((Date.now() - since) / 1000).toFixed(1);

function summaryLine({ passed, failed, skipped }: Counts): string {
  return `${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`;
}

const { exitCode, counts } = await main();
// Nothing may be printed after this line: it is the run's result.
process.stdout.write(`\n${summaryLine(counts)}\n`, () => process.exit(exitCode));
