/**
 * GET /demo and GET /demo/main.js: a page that shows one customer's
 * entitlements live (WatchEntitlements over Connect-web, same origin, so it
 * needs no CORS). The browser code (./main.ts) is bundled with esbuild on
 * the first request and kept in memory: a service that never serves the
 * page never loads esbuild, and the bundle is the same bytes for the same
 * sources (no source map, no timestamps). A failed build is not cached.
 *
 * The page holds no secret: the customer token arrives in the URL fragment,
 * which never reaches the server.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../logger.js';
import type { NodeRequest, NodeResponse } from '../node-http.js';

interface Asset {
  readonly body: Buffer;
  readonly contentType: string;
  readonly etag: string;
}

const pageFile = fileURLToPath(new URL('./page.html', import.meta.url));
const browserEntry = fileURLToPath(new URL('./main.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

const headers = {
  // Scripts only from this origin, calls only to this origin.
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  // Revalidate every time: a new deploy's page is used at once (the ETag makes it cheap).
  'cache-control': 'no-cache',
};

/** The request and response connect-node's fallback handler gets (HTTP/1.1 or HTTP/2). */
export type DemoRoute = (req: NodeRequest, res: NodeResponse) => Promise<void>;

/**
 * The /demo page and its bundled script, by path, for one service instance;
 * their cache lives as long as the instance.
 */
export function createDemoRoutes(logger: Logger): Readonly<Record<string, DemoRoute>> {
  const pageAsset = memoize(readPage);
  const scriptAsset = memoize(bundleBrowserCode);
  return {
    '/demo': async (req, res) => {
      // Start bundling now: the browser asks for the script right after the page.
      scriptAsset().catch((error: unknown) =>
        // The script request that follows tries again and answers 500 (logged) if it fails too.
        logger.debug('early bundling of the demo script failed', { error }),
      );
      await serve(req, res, await pageAsset());
    },
    '/demo/main.js': async (req, res) => serve(req, res, await scriptAsset()),
  };
}

/** Loads once and keeps the result; a failure is forgotten so the next request tries again. */
function memoize(load: () => Promise<Asset>): () => Promise<Asset> {
  let current: Promise<Asset> | undefined;
  return () => {
    if (!current) {
      const loading = load();
      current = loading;
      loading.catch(() => {
        if (current === loading) current = undefined;
      });
    }
    return current;
  };
}

async function serve(req: NodeRequest, res: NodeResponse, asset: Asset): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
    res.end('use GET');
    return;
  }
  if (req.headers['if-none-match'] === asset.etag) {
    res.writeHead(304, { ...headers, etag: asset.etag });
    res.end();
    return;
  }
  res.writeHead(200, {
    ...headers,
    'content-type': asset.contentType,
    'content-length': asset.body.length,
    etag: asset.etag,
  });
  if (req.method === 'HEAD') res.end();
  else res.end(asset.body);
}

function asset(body: Buffer, contentType: string): Asset {
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  return { body, contentType, etag };
}

async function readPage(): Promise<Asset> {
  return asset(await readFile(pageFile), 'text/html; charset=utf-8');
}

async function bundleBrowserCode(): Promise<Asset> {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [browserEntry],
    absWorkingDir: repoRoot,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    sourcemap: false,
    write: false,
    logLevel: 'silent',
  });
  const output = result.outputFiles[0];
  if (!output) throw new Error('esbuild produced no bundle for the demo page');
  return asset(Buffer.from(output.contents), 'text/javascript; charset=utf-8');
}
