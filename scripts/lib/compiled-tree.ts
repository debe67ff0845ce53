/**
 * The compiled tree `npm test` runs: `.build/` mirrors the repository, with
 * every TypeScript file of the folders below compiled to JavaScript beside a
 * link to its source, and everything else (docs, protos, `.data`, `.tools`,
 * node_modules, the clients) a symbolic link to the real thing. So relative
 * paths (`new URL('../../gen/…', import.meta.url)`, a test's `cwd`) mean in
 * the tree what they mean in the repository.
 *
 * Why: loading TypeScript through tsx's loader hooks costs about 2.5 s of CPU
 * per process on Node 20 (every module of node_modules crosses to the hooks'
 * thread and back), against 1 s for the same code as plain JavaScript, and
 * the suite starts some 180 processes on 2 cores. esbuild compiles what tsx
 * compiles, with the same settings, so the code that runs is the same.
 */
import { lstat, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';

/** The folders whose TypeScript runs in tests. Everything else is linked. */
const COMPILED_FOLDERS = ['src', 'test', 'scripts', 'sandbox', 'load', 'gen'] as const;

/**
 * Git-ignored folders that tools and services fill while tests run. They are
 * created in the repository before the tree is built, so the tree links them
 * even on a fresh clone: a folder missing then would be created inside the
 * tree by the first writer, and the repository's own scripts (scripts/grpcurl
 * finds `.tools/bin` beside itself) would not see what was installed there.
 */
const SHARED_STATE_FOLDERS = ['.tools', '.data'] as const;

/** The tree's folder, inside the repository so node_modules resolves from it. */
export const COMPILED_TREE_FOLDER = '.build';

const isTypeScript = (name: string) => name.endsWith('.ts') && !name.endsWith('.d.ts');

/** Links every file of `from` into `to`, descending into its folders; returns the TS files. */
async function mirrorFolder(from: string, to: string): Promise<string[]> {
  await mkdir(to, { recursive: true });
  const sources: string[] = [];
  const entries = await readdir(from, { withFileTypes: true });
  const names = new Set(entries.map((entry) => entry.name));
  for (const entry of entries) {
    const source = path.join(from, entry.name);
    const target = path.join(to, entry.name);
    if (entry.isDirectory() && entry.name !== 'node_modules') {
      sources.push(...(await mirrorFolder(source, target)));
      continue;
    }
    // esbuild writes `x.js` beside the link to `x.ts`: a linked `x.js` there
    // would be written through, into the repository.
    if (entry.name.endsWith('.js') && names.has(entry.name.replace(/\.js$/, '.ts'))) {
      throw new Error(`${source} has a TypeScript twin: the compiled tree cannot hold both`);
    }
    await symlink(source, target);
    if (entry.isFile() && isTypeScript(entry.name)) sources.push(source);
  }
  return sources;
}

/**
 * The repository's package.json with an ava section for the compiled test
 * files (the repository's own runs the .ts files through tsx). Its scripts
 * stay, so `npm run sandbox` works from the tree as a README says.
 */
async function treePackageJson(repoRoot: string): Promise<string> {
  const text = await readFile(path.join(repoRoot, 'package.json'), 'utf8');
  const manifest = JSON.parse(text) as Record<string, unknown>;
  const ava = { files: ['test/**/*.test.js'], workerThreads: false, timeout: '120s' };
  return `${JSON.stringify({ ...manifest, ava }, null, 2)}\n`;
}

/**
 * Builds `.build/` afresh from the working tree (about a second) and returns
 * its path. Whatever a test writes under a compiled folder lands in the tree.
 */
export async function buildCompiledTree(repoRoot: string): Promise<string> {
  const tree = path.join(repoRoot, COMPILED_TREE_FOLDER);
  await rm(tree, { recursive: true, force: true });
  await mkdir(tree);
  for (const folder of SHARED_STATE_FOLDERS) {
    await mkdir(path.join(repoRoot, folder), { recursive: true });
  }
  const sources: string[] = [];
  for (const entry of await readdir(repoRoot, { withFileTypes: true })) {
    if (entry.name === COMPILED_TREE_FOLDER || entry.name === 'package.json') continue;
    const source = path.join(repoRoot, entry.name);
    const target = path.join(tree, entry.name);
    const compiled = (COMPILED_FOLDERS as readonly string[]).includes(entry.name);
    if (compiled && (await lstat(source)).isDirectory()) {
      sources.push(...(await mirrorFolder(source, target)));
    } else {
      await symlink(source, target);
    }
  }
  await writeFile(path.join(tree, 'package.json'), await treePackageJson(repoRoot));
  await build({
    entryPoints: sources,
    outdir: tree,
    outbase: repoRoot,
    bundle: false,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    tsconfig: path.join(repoRoot, 'tsconfig.json'),
    logLevel: 'warning',
  });
  return tree;
}
