import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { buildCompiledTree } from '../../scripts/lib/compiled-tree.js';

const run = promisify(execFile);

/** A repository as a fresh clone has it: sources, no `.tools` or `.data` yet. */
async function freshClone(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'compiled-tree-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await mkdir(path.join(root, 'src'));
  await mkdir(path.join(root, 'docs'));
  await writeFile(path.join(root, 'package.json'), JSON.stringify({ name: 'x', type: 'module' }));
  await writeFile(path.join(root, 'tsconfig.json'), JSON.stringify({ compilerOptions: {} }));
  await writeFile(
    path.join(root, 'src', 'answer.ts'),
    'const answer: number = 42;\nconsole.log(answer);\n',
  );
  await writeFile(path.join(root, 'docs', 'readme.md'), '# docs\n');
  return root;
}

test('on a fresh clone, what is installed into the tree lands in the repository (.tools, .data)', async (t) => {
  const root = await freshClone(t);
  const tree = await buildCompiledTree(root);
  for (const folder of ['.tools', '.data']) {
    t.true((await lstat(path.join(tree, folder))).isSymbolicLink(), `${folder} is a link`);
    t.is(await readlink(path.join(tree, folder)), path.join(root, folder));
  }
  await mkdir(path.join(tree, '.tools', 'bin'), { recursive: true });
  await writeFile(path.join(tree, '.tools', 'bin', 'tool'), 'installed');
  t.is(await readFile(path.join(root, '.tools', 'bin', 'tool'), 'utf8'), 'installed');
});

test('TypeScript is compiled beside a link to its source; other files are links', async (t) => {
  const root = await freshClone(t);
  const tree = await buildCompiledTree(root);
  const { stdout } = await run(process.execPath, [path.join(tree, 'src', 'answer.js')]);
  t.is(stdout.trim(), '42');
  t.is(await readlink(path.join(tree, 'src', 'answer.ts')), path.join(root, 'src', 'answer.ts'));
  t.is(await readlink(path.join(tree, 'docs')), path.join(root, 'docs'));
  const manifest = JSON.parse(await readFile(path.join(tree, 'package.json'), 'utf8')) as {
    ava?: { files?: string[] };
  };
  t.deepEqual(manifest.ava?.files, ['test/**/*.test.js']);
});
