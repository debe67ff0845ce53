/**
 * GET /demo and GET /demo/main.js: a page that shows one customer's
 * entitlements live (WatchEntitlements over Connect-web, same origin, so it
 * needs no CORS), served as src/bundled-page.ts serves the service's pages.
 *
 * The page holds no secret: the customer token arrives in the URL fragment,
 * which never reaches the server.
 */
import { fileURLToPath } from 'node:url';
import { bundledPageRoutes, type PageRoute } from '../bundled-page.js';
import type { Logger } from '../logger.js';

/** The /demo page and its bundled script, by path, for one service instance. */
export function createDemoRoutes(logger: Logger): Readonly<Record<string, PageRoute>> {
  return bundledPageRoutes({
    path: '/demo',
    pageFile: fileURLToPath(new URL('./page.html', import.meta.url)),
    entry: fileURLToPath(new URL('./main.ts', import.meta.url)),
    logger,
  });
}
