/**
 * `tsx scripts/install-client-tools.ts`: install the pinned Go plugins and
 * Python tools that generate and test clients/ (see lib/client-tools.ts).
 * scripts/generate.sh runs it first; `npm test` does the same before ava.
 */
import { ensureClientTools } from './lib/client-tools.js';

await ensureClientTools();
