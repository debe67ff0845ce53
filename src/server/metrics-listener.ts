/**
 * The metrics listener: a second, plain HTTP/1.1 port that serves /metrics
 * with every figure, tenants' included (MRR, subscriptions and drift per
 * project). It binds to loopback by default so only the host (a sidecar, a
 * node agent) can scrape it; the public port serves only figures with no
 * tenant in them.
 */
import http from 'node:http';
import type { Registry } from 'prom-client';
import type { HttpTimeouts } from '../config.js';
import { applyHttp1Timeouts } from './listener.js';

export interface MetricsListener {
  readonly port: number;
  close(): Promise<void>;
}

export interface MetricsListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly registry: Registry;
  readonly timeouts: HttpTimeouts;
  /** A scrape that failed (a collect callback threw): answered 500. */
  readonly onError: (err: unknown) => void;
}

export async function listenMetrics(options: MetricsListenerOptions): Promise<MetricsListener> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    options.registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': options.registry.contentType }).end(body),
      (err: unknown) => {
        options.onError(err);
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics failed\n');
      },
    );
  });
  applyHttp1Timeouts(server, options.timeouts);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Scrapers keep connections alive; a scrape in flight is not worth waiting for.
        server.closeAllConnections();
      }),
  };
}
