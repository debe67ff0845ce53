/**
 * The test runner provisions what a file's `// needs:` header says: the
 * header is read, typos fail the run, file arguments select the right files,
 * and every test file's header names what its code visibly uses (so a file
 * that forgets a need fails here, in seconds, and not later without its
 * database).
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { REPO_ROOT } from '../../scripts/lib/local-services.js';
import {
  parseTestNeeds,
  selectTestFiles,
  type TestNeed,
  unionNeeds,
} from '../../scripts/lib/test-needs.js';

test('a header line names the needs; a file without one needs nothing', (t) => {
  const source = '// needs: mongodb redis\n/**\n * doc\n */\nimport test from "ava";\n';
  t.deepEqual([...parseTestNeeds('a.test.ts', source)], ['mongodb', 'redis']);
  t.is(parseTestNeeds('b.test.ts', '/** pure */\nimport test from "ava";\n').size, 0);
});

test('commas and extra spaces are fine; a needs line after the imports is not a header', (t) => {
  t.deepEqual([...parseTestNeeds('a.test.ts', '//   needs:  go,python \n')], ['go', 'python']);
  const late = 'import test from "ava";\n// needs: mongodb\n';
  t.is(parseTestNeeds('a.test.ts', late).size, 0);
});

test('an unknown need fails with the file and the known words', (t) => {
  const error = t.throws(() => parseTestNeeds('test/x.test.ts', '// needs: mongo\n'));
  t.regex(error?.message ?? '', /test\/x\.test\.ts: unknown need "mongo".*mongodb, redis/);
});

test('the union keeps one of each need, in a fixed order', (t) => {
  const needs = unionNeeds([
    new Set<TestNeed>(['redis', 'chromium']),
    new Set<TestNeed>(['mongodb', 'redis']),
    new Set<TestNeed>(),
  ]);
  t.deepEqual(needs, ['mongodb', 'redis', 'chromium']);
});

const files = ['test/a.test.ts', 'test/domain/b.test.ts', 'test/domain/c.test.ts'];

test('arguments select files by path or folder, skipping options and their values', (t) => {
  t.deepEqual(selectTestFiles(['test/a.test.ts'], files), {
    files: ['test/a.test.ts'],
    unresolved: false,
  });
  t.deepEqual(selectTestFiles(['--match', 'title', './test/domain/'], files).files, [
    'test/domain/b.test.ts',
    'test/domain/c.test.ts',
  ]);
  t.deepEqual(selectTestFiles(['--verbose'], files), { files, unresolved: false });
});

test('an argument that names no file or folder (a glob) leaves the selection unresolved', (t) => {
  t.true(selectTestFiles(['test/**/b*.ts'], files).unresolved);
  t.true(selectTestFiles(['test/a.test.ts', 'test/typo.test.ts'], files).unresolved);
});

/** What a test file's own code uses that the runner must provision. */
const usedNeeds: ReadonlyArray<[RegExp, readonly TestNeed[]]> = [
  [/\b(startTestApp|startBillingHarness|startSmokeServer)\(/, ['mongodb', 'redis']],
  [/\b(testMongoUrl|connectCountingInserts|startPrivateFerretDb|ferretDbBin)\(/, ['mongodb']],
  [/\b(testRedisUrl|startPrivateRedis)\(/, ['redis']],
  [/\bstripeMockBin\(/, ['stripe-mock']],
  [/\bgrpcurlBin\(|scripts\/grpcurl/, ['grpcurl']],
  [/\bchromiumBin\(/, ['chromium']],
];

function needsUsedBy(source: string): Set<TestNeed> {
  const needs = new Set<TestNeed>();
  for (const [pattern, implied] of usedNeeds) {
    if (pattern.test(source)) for (const need of implied) needs.add(need);
  }
  for (const match of source.matchAll(/\brequireNeed\('([a-z-]+)'\)/g)) {
    needs.add(match[1] as TestNeed);
  }
  return needs;
}

test("every test file's header declares what its code uses", async (t) => {
  const entries = await readdir(path.join(REPO_ROOT, 'test'), { recursive: true });
  const testFiles = entries.filter((entry) => entry.endsWith('.test.ts'));
  t.true(testFiles.length > 40, 'found the test files');
  for (const file of testFiles) {
    const source = await readFile(path.join(REPO_ROOT, 'test', file), 'utf8');
    const declared = parseTestNeeds(file, source);
    const missing = [...needsUsedBy(source)].filter((need) => !declared.has(need));
    t.deepEqual(missing, [], `test/${file} uses ${missing.join(' ')}: add it to \`// needs:\``);
  }
});
