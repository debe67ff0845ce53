import { fileURLToPath } from 'node:url';

/** The repository root (this file is `scripts/lib/repo-root.ts`). */
export const REPO_ROOT: string = fileURLToPath(new URL('../../', import.meta.url));
