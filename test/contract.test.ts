// needs: go python
/**
 * The contract: `buf lint` passes; gen/ and the clients' generated code in
 * clients/ are exactly what `buf generate` produces from proto/ (nobody
 * edited generated code by hand, nobody forgot to regenerate); and proto/
 * has no breaking change against the previous commit (`buf breaking`), so a
 * change that would break the clients fails CI.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { ensureClientTools } from '../scripts/lib/client-tools.js';
import { sourceRoot } from './helpers/process.js';
import { requireNeed } from './helpers/services.js';

const run = promisify(execFile);
const buf = path.join(sourceRoot, 'node_modules/.bin/buf');
const env = {
  ...process.env,
  PATH: `${path.join(sourceRoot, 'node_modules/.bin')}:${process.env.PATH ?? ''}`,
};

test('buf lint passes', async (t) => {
  await t.notThrowsAsync(run(buf, ['lint'], { cwd: sourceRoot, env }));
});

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .filter((file) => !file.split(path.sep).includes('__pycache__'))
    .sort();
}

/**
 * Runs `buf generate` with `template`, every `out:` moved under a fresh
 * temporary folder; returns that folder and the `out:` folders (relative to
 * the repository root).
 */
async function freshGenerate(template: string): Promise<{ root: string; outs: string[] }> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'gen-'));
  const outs = new Set<string>();
  const text = (await readFile(path.join(sourceRoot, template), 'utf8')).replace(
    /^(\s*out:\s*)(\S+)\s*$/gm,
    (_line, prefix: string, out: string) => {
      outs.add(out);
      return `${prefix}${path.join(root, out)}`;
    },
  );
  const templateFile = path.join(root, 'buf.gen.yaml');
  await writeFile(templateFile, text);
  await run(buf, ['generate', '--template', templateFile], { cwd: sourceRoot, env });
  return { root, outs: [...outs].sort() };
}

async function assertSameTree(
  t: import('ava').ExecutionContext,
  freshDir: string,
  committedDir: string,
): Promise<void> {
  const committed = await listFiles(committedDir);
  t.deepEqual(await listFiles(freshDir), committed, `${path.relative(sourceRoot, committedDir)}/`);
  for (const file of committed) {
    const [fresh, current] = await Promise.all([
      readFile(path.join(freshDir, file)),
      readFile(path.join(committedDir, file)),
    ]);
    const name = path.relative(sourceRoot, path.join(committedDir, file));
    t.true(
      fresh.equals(current),
      `${name} differs from a fresh buf generate: run npm run generate`,
    );
  }
}

test('gen/ matches a fresh buf generate', async (t) => {
  const { root, outs } = await freshGenerate('buf.gen.yaml');
  t.teardown(() => rm(root, { recursive: true, force: true }));
  t.deepEqual(outs, ['gen']);
  await run(buf, ['build', '-o', path.join(root, 'gen', 'descriptors.binpb')], {
    cwd: sourceRoot,
    env,
  });
  await assertSameTree(t, path.join(root, 'gen'), path.join(sourceRoot, 'gen'));
});

test('clients/*/gen/ match a fresh buf generate', async (t) => {
  t.timeout(300_000);
  requireNeed('go');
  requireNeed('python');
  await ensureClientTools(); // the pinned Go plugins and Python tools
  const { root, outs } = await freshGenerate('buf.gen.clients.yaml');
  t.teardown(() => rm(root, { recursive: true, force: true }));
  t.deepEqual(outs, ['clients/go/gen', 'clients/python/gen', 'clients/ts/gen']);
  for (const out of outs) {
    await assertSameTree(t, path.join(root, out), path.join(sourceRoot, out));
  }
});

/**
 * `buf breaking` compares proto/ with the same folder in the previous commit
 * (`BUF_BREAKING_AGAINST` names another git ref). Only the billing.v1 module:
 * the previous commit's tree has no node_modules for the other two. Skipped,
 * saying so, only when this clone has no previous commit (a shallow clone or
 * a repository with one commit).
 */
const against = process.env.BUF_BREAKING_AGAINST || 'HEAD~1';
const againstExists = (() => {
  try {
    execFileSync('git', ['rev-parse', '--verify', '--quiet', `${against}^{commit}`], {
      cwd: sourceRoot,
      stdio: 'ignore',
    });
    return true;
  } catch {
    return false;
  }
})();
const breakingTitle = `buf breaking: no breaking change in proto/ against ${against}`;

if (againstExists) {
  test(breakingTitle, async (t) => {
    const result = await run(
      buf,
      ['breaking', 'proto', '--against', `.git#ref=${against},subdir=proto`],
      { cwd: sourceRoot, env },
    ).then(
      () => undefined,
      (error: { stdout?: string; stderr?: string; message: string }) =>
        `${error.stdout ?? ''}${error.stderr ?? ''}`.trim() || error.message,
    );
    t.is(
      result,
      undefined,
      `proto/ breaks the clients generated from ${against}:\n${result}\n` +
        'Add instead of changing or removing (a new field, RPC or message; a billing.v2 package for a redesign).',
    );
  });
} else {
  const shallow = (() => {
    try {
      return (
        execFileSync('git', ['rev-parse', '--is-shallow-repository'], { cwd: sourceRoot })
          .toString()
          .trim() === 'true'
      );
    } catch {
      return false;
    }
  })();
  test.skip(`${breakingTitle}: skipped, ${against} is not in this clone (${
    shallow ? 'a shallow clone: fetch more history' : 'no such commit, e.g. the first one'
  })`, () => undefined);
}
