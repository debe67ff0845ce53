/**
 * The `node` arguments that run one of the repository's TypeScript entry
 * points (`src/main.ts`, a script) from code that is running itself: the
 * compiled `.js` beside it when this code runs from the compiled tree
 * (`npm test`, scripts/lib/compiled-tree.ts), else the source through tsx.
 * `nodeArgs` go before the entry (after tsx is loaded).
 */
export function nodeEntryArgs(entry: string, nodeArgs: readonly string[] = []): string[] {
  const runningCompiled = import.meta.url.endsWith('.js');
  if (runningCompiled) return [...nodeArgs, entry.replace(/\.ts$/, '.js')];
  return ['--import', 'tsx', ...nodeArgs, entry];
}
