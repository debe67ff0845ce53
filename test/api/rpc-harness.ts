/**
 * Every RPC test in test/api/ runs twice, as examples-es does: in memory
 * through `createRouterTransport`, and over gRPC against a real HTTP/2
 * server on port 0 (our own Connect handler, as production routes it),
 * closed after the test. Both use the real routes (billingRoutes), the real
 * error and auth interceptors and the idempotency wrapper, on top of the
 * fakes in ./fakes.ts: no MongoDB, Redis or Stripe.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { DescService } from '@bufbuild/protobuf';
import {
  type CallOptions,
  type Client,
  type ConnectRouter,
  createClient,
  createRouterTransport,
  type Interceptor,
  type Transport,
} from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import test, { type ExecutionContext } from 'ava';
import { ApiKeyAuthenticator, createAuthInterceptor } from '../../src/api/auth.js';
import { createErrorInterceptor } from '../../src/api/errors.js';
import { billingRoutes } from '../../src/api/routes.js';
import { requiredScope } from '../../src/api/scopes.js';
import { TokenIssuers } from '../../src/api/token-issuers.js';
import { createLogger } from '../../src/logger.js';
import { createConnectHandler } from '../../src/server/connect-handler.js';
import {
  FakeApiKeys,
  FakeAuditLog,
  FakeBus,
  FakeChangeFeed,
  FakeCheckout,
  FakeCredits,
  FakeCustomers,
  FakeDailyMetrics,
  FakeEntitlements,
  FakeGrants,
  FakeHistory,
  FakeIdempotencyRecords,
  FakeProjectMetrics,
  FakeProjects,
  FakeReconciliation,
  FakeUsage,
  FakeWebhookEndpoints,
  FakeWebhookEvents,
} from './fakes.js';

/** Signs customer tokens in these tests. */
export const customerTokenSecret = 'test-customer-token-secret-0123456789';

/** The fakes behind one run of a test: seed them, call, assert on the answer (and on them). */
export class ApiWorld {
  readonly bus = new FakeBus();
  readonly keys = new FakeApiKeys(this.bus);
  readonly idempotency = new FakeIdempotencyRecords();
  readonly entitlements = new FakeEntitlements();
  readonly checkout = new FakeCheckout();
  readonly projectMetrics = new FakeProjectMetrics();
  readonly dailyMetrics = new FakeDailyMetrics();
  readonly customers = new FakeCustomers();
  readonly projects = new FakeProjects(this.keys);
  readonly grants = new FakeGrants();
  readonly credits = new FakeCredits();
  readonly auditLog = new FakeAuditLog();
  readonly reconciliation = new FakeReconciliation();
  readonly webhookEvents = new FakeWebhookEvents();
  readonly webhookEndpoints = new FakeWebhookEndpoints();
  readonly usage = new FakeUsage();
  readonly changeFeed = new FakeChangeFeed();
  readonly history = new FakeHistory();

  routes(): (router: ConnectRouter) => void {
    // No clock is passed: customer tokens are checked against the real time.
    return billingRoutes({
      entitlements: this.entitlements,
      watchHub: this.entitlements,
      changeFeed: this.changeFeed,
      usage: this.usage,
      history: this.history,
      customerTokenSecrets: [customerTokenSecret],
      checkout: this.checkout,
      projectMetrics: this.projectMetrics,
      dailyMetrics: this.dailyMetrics,
      customers: this.customers,
      projects: this.projects,
      apiKeys: this.keys,
      grants: this.grants,
      credits: this.credits,
      auditLog: this.auditLog,
      reconciliation: this.reconciliation,
      webhookEvents: this.webhookEvents,
      webhookEndpoints: this.webhookEndpoints,
      idempotency: this.idempotency,
      logger: silentLogger,
    });
  }

  /** As app.ts orders them (metrics aside): errors outside, auth inside. */
  interceptors(): Interceptor[] {
    return [
      createErrorInterceptor(silentLogger),
      createAuthInterceptor({
        authenticator: new ApiKeyAuthenticator(this.keys, this.bus, 60_000),
        customerTokenSecrets: [customerTokenSecret],
        tokenIssuers: new TokenIssuers(this.keys, this.bus, 60_000),
        requiredScope,
      }),
    ];
  }
}

const silentLogger = createLogger({ level: 'error', write: () => undefined });

/** Call options that present a bearer (an API key or a customer token). */
export function bearer(token: string): CallOptions {
  return { headers: { authorization: `Bearer ${token}` } };
}

export interface RpcRun {
  readonly world: ApiWorld;
  readonly transport: Transport;
  client<S extends DescService>(service: S): Client<S>;
}

/** Registers `title` twice: once in memory, once over a port-0 server. */
export function rpcTest(title: string, body: (t: ExecutionContext, run: RpcRun) => Promise<void>) {
  test(`${title} (in memory)`, async (t) => {
    const world = new ApiWorld();
    const transport = createRouterTransport(world.routes(), {
      router: { interceptors: world.interceptors() },
    });
    await body(t, runOf(world, transport));
  });
  test(`${title} (over a port)`, async (t) => {
    const world = new ApiWorld();
    const transport = await serve(t, world);
    await body(t, runOf(world, transport));
  });
}

function runOf(world: ApiWorld, transport: Transport): RpcRun {
  return { world, transport, client: (service) => createClient(service, transport) };
}

/** A real HTTP/2 server on port 0 with the production Connect handler; closed after the test. */
async function serve(t: ExecutionContext, world: ApiWorld): Promise<Transport> {
  const shutdown = new AbortController();
  const handler = createConnectHandler({
    routes: world.routes(),
    interceptors: world.interceptors(),
    readMaxBytes: 1024 * 1024,
    shutdownSignal: shutdown.signal,
    fallback: (_req, res) => {
      res.statusCode = 404;
      res.end();
    },
    logger: silentLogger,
  });
  const server = http2.createServer(handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${port}`;
  const sessionManager = new Http2SessionManager(baseUrl);
  t.teardown(async () => {
    shutdown.abort();
    sessionManager.abort();
    for (const session of sessions) session.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return createGrpcTransport({ baseUrl, sessionManager });
}
