// needs: go python
/**
 * The clients' README snippets compile against the real clients. Each
 * README's code blocks in its language become one file: the first block
 * (which creates `client` / `billing`) first, every later block in a function
 * of its own that can use it; imports are hoisted. Then the language's own
 * checker runs: tsc (strict) for TypeScript, go build for Go, mypy --strict
 * for Python. (The smoke tests beside this file run the same calls live,
 * and run each README's quick start from the installed package.)
 */
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import {
  ensureGoClientTools,
  ensurePythonClientTools,
  GO_CLIENT_DIR,
} from '../../scripts/lib/client-tools.js';
import { REPO_ROOT } from '../../scripts/lib/local-services.js';
import { runChild } from '../helpers/client-smoke.js';
import { readmeBlocks, writeReadmeTsConfig } from '../helpers/readme-blocks.js';
import { requireNeed } from '../helpers/services.js';

const CLIENTS = path.join(REPO_ROOT, 'clients');

const indent = (code: string): string =>
  code
    .split('\n')
    .map((line) => (line === '' ? line : `  ${line}`))
    .join('\n');

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'readme-snippets-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('clients/ts/README.md snippets type-check (tsc --strict)', async (t) => {
  const blocks = (await readmeBlocks('ts/README.md', 'ts')).snippets;
  t.true(blocks.length >= 4, 'README has its snippets');
  const dir = await tempDir(t);
  const imports = new Set<string>();
  const bodies = blocks.map((block) => {
    const lines = block.split('\n');
    for (const line of lines.filter((l) => l.startsWith('import '))) imports.add(line);
    return lines.filter((l) => !l.startsWith('import ')).join('\n');
  });
  const [first = '', ...rest] = bodies;
  const entry = (file: string) => path.relative(dir, path.join(CLIENTS, 'ts', file));
  const source = [
    ...[...imports].map((line) =>
      line
        .replace("'@example/billing-client'", `'${entry('index.js')}'`)
        .replace("'@example/billing-client/openfeature'", `'${entry('openfeature-provider.js')}'`)
        .replace(
          "'@example/billing-client/openfeature-web'",
          `'${entry('openfeature-web-provider.js')}'`,
        ),
    ),
    first,
    ...rest.map(
      (body, i) => `export async function snippet${i + 2}(): Promise<void> {\n${indent(body)}\n}`,
    ),
  ].join('\n');
  await writeFile(path.join(dir, 'readme.ts'), source);
  await writeFile(path.join(dir, 'package.json'), '{ "type": "module" }\n');
  // The snippets' other packages (the OpenFeature SDK) resolve as in a project that has them.
  await symlink(path.join(REPO_ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  await writeReadmeTsConfig(dir, ['readme.ts'], { skipLibCheck: true });
  const result = await runChild(path.join(REPO_ROOT, 'node_modules', '.bin', 'tsc'), ['-p', dir], {
    cwd: dir,
  });
  t.is(result.code, 0, `${result.output}\n--- readme.ts ---\n${source}`);
});

test('clients/go/README.md snippets compile (go build)', async (t) => {
  t.timeout(300_000);
  requireNeed('go');
  await ensureGoClientTools();
  const blocks = (await readmeBlocks('go/README.md', 'go')).snippets;
  t.true(blocks.length >= 4, 'README has its snippets');
  const dir = await tempDir(t);
  // Imports: the snippets' own, plus what the wrapper and the snippets' bodies use.
  const imports = new Map<string, string>();
  for (const spec of ['"context"', '"errors"', '"log"', '"os"']) imports.set(spec, spec);
  const bodies = blocks.map((block) =>
    block
      .replace(/^import \(\n([\s\S]*?)^\)\n/m, (_all, specs: string) => {
        for (const line of specs.split('\n').map((l) => l.trim())) {
          const quoted = /"[^"]+"/.exec(line)?.[0];
          if (quoted !== undefined) imports.set(quoted, line);
        }
        return '';
      })
      .trim(),
  );
  const [first = '', ...rest] = bodies;
  const source = [
    'package readme',
    `import (\n${[...imports.values()].map((line) => `\t${line}`).join('\n')}\n)`,
    'var _, _, _, _ = context.Background, errors.As, log.Print, os.Getenv',
    `func newClient() *billingclient.Client {\n${first}\nreturn client\n}`,
    ...rest.map(
      (body, i) =>
        `func snippet${i + 2}(ctx context.Context, client *billingclient.Client) error {\n${body}\nreturn nil\n}`,
    ),
  ].join('\n\n');
  await writeFile(path.join(dir, 'readme.go'), source);
  await writeFile(
    path.join(dir, 'go.mod'),
    [
      'module readme',
      'go 1.24.0',
      'require github.com/example/billing-entitlements-service/clients/go v0.0.0',
      `replace github.com/example/billing-entitlements-service/clients/go => ${GO_CLIENT_DIR}`,
      '',
    ].join('\n\n'),
  );
  await writeFile(path.join(dir, 'go.sum'), await readFile(path.join(GO_CLIENT_DIR, 'go.sum')));
  const result = await runChild('go', ['build', './...'], {
    cwd: dir,
    env: { ...process.env, GOFLAGS: '-mod=mod', GOWORK: 'off' },
  });
  t.is(result.code, 0, `${result.output}\n--- readme.go ---\n${source}`);
});

test('clients/python/README.md snippets type-check (mypy --strict)', async (t) => {
  t.timeout(300_000);
  requireNeed('python');
  const venvBin = await ensurePythonClientTools();
  const blocks = (await readmeBlocks('python/README.md', 'python')).snippets;
  t.true(blocks.length >= 4, 'README has its snippets');
  const dir = await tempDir(t);
  const source = blocks.join('\n');
  await writeFile(path.join(dir, 'readme.py'), source);
  const python = path.join(CLIENTS, 'python');
  const result = await runChild(
    path.join(venvBin, 'mypy'),
    [
      ...[
        '--strict',
        '--config-file',
        '',
        '--cache-dir',
        path.join(REPO_ROOT, '.tools', 'mypy-cache'),
      ],
      'readme.py',
    ],
    { cwd: dir, env: { ...process.env, MYPYPATH: `${path.join(python, 'gen')}:${python}` } },
  );
  t.is(result.code, 0, `${result.output}\n--- readme.py ---\n${source}`);
});
