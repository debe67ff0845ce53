/**
 * What a test file needs the runner to provision, read from the file's own
 * header: a line `// needs: mongodb redis` before its first import. A file
 * without that line is pure (or in memory) and gets nothing: no FerretDB,
 * no Redis, no Go tools, no browser. `npm test -- <files>` provisions the
 * union of the selected files' needs; `npm run test:unit` runs the files
 * that need nothing. Pure functions only: reading the files is the caller's.
 */

/** Every need a test file may declare, and what the runner does for it. */
export const TEST_NEEDS = {
  mongodb: 'FerretDB built and started (TEST_MONGODB_URL, FERRETDB_BIN)',
  redis: 'redis-server installed and started (TEST_REDIS_URL, REDIS_SERVER_BIN)',
  'stripe-mock': 'the pinned stripe-mock binary (STRIPE_MOCK_BIN)',
  grpcurl: 'the pinned grpcurl binary (GRPCURL_BIN, scripts/grpcurl)',
  ghz: 'the pinned ghz binary (GHZ_BIN), for the benchmarks in load/',
  chromium: "Debian's chromium (CHROMIUM_BIN)",
  go: "the Go client's plugins and module dependencies",
  python: "the Python client's venv (.tools/venv)",
  compose: 'docker compose or docker-compose, to check docker-compose.yml',
} as const;

export type TestNeed = keyof typeof TEST_NEEDS;

/** Set by the runner for the test workers: the needs it provisioned, space-separated. */
export const TEST_NEEDS_ENV = 'TEST_NEEDS';

export const ALL_TEST_NEEDS: readonly TestNeed[] = Object.keys(TEST_NEEDS) as TestNeed[];

function isTestNeed(word: string): word is TestNeed {
  return Object.hasOwn(TEST_NEEDS, word);
}

const NEEDS_LINE = /^\/\/\s*needs:(.*)$/;

/**
 * The needs a test file declares in its header (the lines before its first
 * import). Throws on a word that is not a need, so a typo fails the run
 * instead of leaving a service out.
 */
export function parseTestNeeds(file: string, source: string): ReadonlySet<TestNeed> {
  const needs = new Set<TestNeed>();
  for (const line of source.split('\n')) {
    if (/^import\b/.test(line)) break;
    const match = NEEDS_LINE.exec(line.trim());
    if (match?.[1] === undefined) continue;
    for (const word of match[1].split(/[\s,]+/).filter((w) => w !== '')) {
      if (!isTestNeed(word)) {
        throw new Error(
          `${file}: unknown need "${word}" in its \`// needs:\` header (known: ${ALL_TEST_NEEDS.join(', ')})`,
        );
      }
      needs.add(word);
    }
  }
  return needs;
}

/** The union of the needs of several files, in the order of TEST_NEEDS. */
export function unionNeeds(sets: Iterable<ReadonlySet<TestNeed>>): TestNeed[] {
  const all = new Set<TestNeed>();
  for (const set of sets) for (const need of set) all.add(need);
  return ALL_TEST_NEEDS.filter((need) => all.has(need));
}

/** ava options that take the next argument as their value (`-m title`). */
const OPTIONS_WITH_VALUE = new Set([
  '--match',
  '-m',
  '--concurrency',
  '-c',
  '--timeout',
  '-T',
  '--node-arguments',
  '--config',
]);

export interface SelectedFiles {
  /** The test files the arguments name, or every test file when they name none. */
  readonly files: readonly string[];
  /** True when an argument is neither an option nor a known file or folder (a glob): provision everything. */
  readonly unresolved: boolean;
}

/**
 * Which of `testFiles` (repo-relative, `/`-separated) ava's arguments select:
 * a file by its path, a folder by its prefix. Options and their values are
 * skipped. Any other argument (a glob, a typo) makes the selection unresolved.
 */
export function selectTestFiles(
  args: readonly string[],
  testFiles: readonly string[],
): SelectedFiles {
  const selected = new Set<string>();
  let named = false;
  let unresolved = false;
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] ?? '';
    if (arg.startsWith('-')) {
      if (OPTIONS_WITH_VALUE.has(arg)) i += 1;
      continue;
    }
    named = true;
    const wanted = arg.replace(/^\.\//, '').replace(/\/+$/, '');
    const matches = testFiles.filter((file) => file === wanted || file.startsWith(`${wanted}/`));
    if (matches.length === 0) unresolved = true;
    for (const file of matches) selected.add(file);
  }
  return { files: named ? [...selected] : [...testFiles], unresolved };
}
