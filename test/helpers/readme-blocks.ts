/**
 * The code blocks of a client's README: the quick start (the one block of
 * the language under "## Quick start", a whole program the package tests
 * run) and the snippets (every other block of the language, which
 * test/clients/readme-snippets.test.ts type-checks together).
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT } from '../../scripts/lib/repo-root.js';

export interface ReadmeBlocks {
  readonly quickStart: string;
  readonly snippets: readonly string[];
}

const QUICK_START_HEADING = '## Quick start';

function blocksOf(markdown: string, language: string): string[] {
  const fence = new RegExp(`^\`\`\`${language}\\n([\\s\\S]*?)^\`\`\`$`, 'gm');
  return [...markdown.matchAll(fence)].map((match) => match[1] ?? '');
}

/** `readme` relative to clients/, e.g. 'ts/README.md'. */
export async function readmeBlocks(readme: string, language: string): Promise<ReadmeBlocks> {
  const markdown = await readFile(path.join(REPO_ROOT, 'clients', readme), 'utf8');
  const sections = markdown.split(/^(?=## )/m);
  const quickStart = sections.filter((section) => section.startsWith(`${QUICK_START_HEADING}\n`));
  const quickStartBlocks = quickStart.flatMap((section) => blocksOf(section, language));
  const [program] = quickStartBlocks;
  if (program === undefined || quickStartBlocks.length !== 1)
    throw new Error(`${readme}: "${QUICK_START_HEADING}" must hold exactly one ${language} block`);
  const others = sections.filter((section) => !quickStart.includes(section));
  return {
    quickStart: program,
    snippets: others.flatMap((section) => blocksOf(section, language)),
  };
}

/**
 * A strict tsconfig.json for README code in `dir` (a project of a product's
 * shape: ES modules, NodeNext), with Node's types from this repository.
 */
export async function writeReadmeTsConfig(
  dir: string,
  files: readonly string[],
  options: { skipLibCheck?: boolean } = {},
): Promise<void> {
  const compilerOptions = {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    noEmit: true,
    skipLibCheck: options.skipLibCheck ?? false,
    types: ['node'],
    typeRoots: [path.join(REPO_ROOT, 'node_modules', '@types')],
  };
  await writeFile(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files }));
}
