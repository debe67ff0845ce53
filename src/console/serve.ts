/**
 * GET /console and GET /console/main.js: the operator console, pages for the
 * people who run the service, built on the Connect-web client and the
 * public RPCs only (docs/console.md). Served as src/bundled-page.ts serves
 * the service's pages. The page holds no secret: the operator's admin key
 * lives in the tab's session storage and goes out only as a bearer.
 */
import { fileURLToPath } from 'node:url';
import { bundledPageRoutes, type PageRoute } from '../bundled-page.js';
import type { Logger } from '../logger.js';

/** The /console page and its bundled script, by path, for one service instance. */
export function createConsoleRoutes(logger: Logger): Readonly<Record<string, PageRoute>> {
  return bundledPageRoutes({
    path: '/console',
    pageFile: fileURLToPath(new URL('./page.html', import.meta.url)),
    entry: fileURLToPath(new URL('./app/main.ts', import.meta.url)),
    logger,
  });
}
