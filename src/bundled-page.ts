/**
 * A page of the service's own (/demo, /console): its HTML and its browser
 * code, bundled with esbuild on the first request and kept in memory. A
 * service that never serves the page never loads esbuild, and the bundle is
 * the same bytes for the same sources (no source map, no timestamps). A
 * failed build is not cached: the next request tries again. Both answer
 * with an ETag (304 on a match) and strict headers: scripts and calls only
 * to this origin.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Logger } from './logger.js';
import type { NodeRequest, NodeResponse } from './node-http.js';

interface Asset {
  readonly body: Buffer;
  readonly contentType: string;
  readonly etag: string;
}

/** The request and response connect-node's fallback handler gets (HTTP/1.1 or HTTP/2). */
export type PageRoute = (req: NodeRequest, res: NodeResponse) => Promise<void>;

export interface BundledPage {
  /** Where the page is served, e.g. `/demo`; its script is `<path>/main.js`. */
  readonly path: string;
  readonly pageFile: string;
  /** The browser code's entry point (TypeScript). */
  readonly entry: string;
  readonly logger: Logger;
}

const repoRoot = fileURLToPath(new URL('../', import.meta.url));

const headers = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  // Revalidate every time: a new deploy's page is used at once (the ETag makes it cheap).
  'cache-control': 'no-cache',
};

/** The page and its script by path, for one service instance; their cache lives as long as it. */
export function bundledPageRoutes(page: BundledPage): Readonly<Record<string, PageRoute>> {
  const pageAsset = memoize(async () =>
    asset(await readFile(page.pageFile), 'text/html; charset=utf-8'),
  );
  const scriptAsset = memoize(() => bundle(page.entry));
  return {
    [page.path]: async (req, res) => {
      // Start bundling now: the browser asks for the script right after the page.
      scriptAsset().catch((error: unknown) =>
        // The script request that follows tries again and answers 500 (logged) if it fails too.
        page.logger.debug('early bundling of a page script failed', { page: page.path, error }),
      );
      await serve(req, res, await pageAsset());
    },
    [`${page.path}/main.js`]: async (req, res) => serve(req, res, await scriptAsset()),
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

async function bundle(entry: string): Promise<Asset> {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [entry],
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
  if (!output) throw new Error(`esbuild produced no bundle for ${entry}`);
  return asset(Buffer.from(output.contents), 'text/javascript; charset=utf-8');
}
