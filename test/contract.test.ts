/**
 * The contract: `buf lint` passes and gen/ is exactly what `buf generate`
 * produces from proto/ (nobody edited generated code by hand).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { repoRoot } from './helpers/process.js';

const run = promisify(execFile);
const buf = path.join(repoRoot, 'node_modules/.bin/buf');
const env = {
  ...process.env,
  PATH: `${path.join(repoRoot, 'node_modules/.bin')}:${process.env.PATH ?? ''}`,
};

test('buf lint passes', async (t) => {
  await t.notThrowsAsync(run(buf, ['lint'], { cwd: repoRoot, env }));
});

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

test('gen/ matches a fresh buf generate', async (t) => {
  const out = await mkdtemp(path.join(os.tmpdir(), 'gen-'));
  const template = (await readFile(path.join(repoRoot, 'buf.gen.yaml'), 'utf8')).replace(
    'out: gen',
    `out: ${out}`,
  );
  const templateFile = path.join(out, '..', `${path.basename(out)}.buf.gen.yaml`);
  await writeFile(templateFile, template);
  await run(buf, ['generate', '--template', templateFile], { cwd: repoRoot, env });
  await run(buf, ['build', '-o', path.join(out, 'descriptors.binpb')], { cwd: repoRoot, env });
  const committed = await listFiles(path.join(repoRoot, 'gen'));
  t.deepEqual(await listFiles(out), committed);
  for (const file of committed) {
    const [fresh, current] = await Promise.all([
      readFile(path.join(out, file)),
      readFile(path.join(repoRoot, 'gen', file)),
    ]);
    t.true(
      fresh.equals(current),
      `${file} differs from a fresh buf generate: run npm run generate`,
    );
  }
});
