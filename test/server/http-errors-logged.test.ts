/**
 * A 500 from the plain HTTP routes (readiness, Prometheus, the webhook
 * route) is logged at error level with its route and its error, so an
 * operator can see why it failed.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { Gauge, Registry } from 'prom-client';
import { createLogger } from '../../src/logger.js';
import { createHttpRoutes } from '../../src/server/http-routes.js';

interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly path?: string;
  readonly method?: string;
  readonly error?: { readonly message?: string };
}

const lines: LogLine[] = [];
let server: Server;
let baseUrl: string;

test.before(async () => {
  const logger = createLogger({
    level: 'debug',
    write: (line) => lines.push(JSON.parse(line) as LogLine),
  });
  // A real registry with a metric whose collection fails, as a broken collector would.
  const registry = new Registry();
  new Gauge({
    name: 'broken_gauge',
    help: 'fails on every scrape',
    registers: [registry],
    collect() {
      throw new Error('collector exploded');
    },
  });
  const handler = createHttpRoutes({
    readiness: async () => {
      throw new Error('readiness check exploded');
    },
    registry,
    isShuttingDown: () => false,
    stripeWebhook: async () => {
      throw new Error('webhook route exploded');
    },
    logger,
  });
  server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

test.after.always(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

const cases = [
  { method: 'GET', path: '/metrics', error: 'collector exploded' },
  { method: 'GET', path: '/readyz', error: 'readiness check exploded' },
  { method: 'POST', path: '/webhooks/stripe/p_logged', error: 'webhook route exploded' },
];

for (const { method, path, error } of cases) {
  test.serial(
    `${method} ${path} answering 500 logs an error with the route and cause`,
    async (t) => {
      const response = await fetch(`${baseUrl}${path}`, { method });
      t.is(response.status, 500);
      t.deepEqual(await response.json(), { error: 'internal error' });
      const logged = lines.filter((line) => line.path === path);
      t.is(logged.length, 1, JSON.stringify(lines));
      t.is(logged[0]?.level, 'error');
      t.is(logged[0]?.method, method);
      t.is(logged[0]?.error?.message, error);
    },
  );
}
