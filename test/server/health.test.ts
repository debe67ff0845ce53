import http2 from 'node:http2';
import {
  Code,
  ConnectError,
  type ConnectRouter,
  createClient,
  createRouterTransport,
  type Interceptor,
  type Transport,
} from '@connectrpc/connect';
import { connectNodeAdapter, createGrpcTransport } from '@connectrpc/connect-node';
import test from 'ava';
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from '../../gen/health/v1/health_pb.js';
import { healthRoutes } from '../../src/server/health.js';
import { hasSettled, waitFor } from '../helpers/wait.js';

const serviceNames = ['billing.v1.EntitlementsService', 'grpc.health.v1.Health'];

// --- Transports: every test runs in memory and over a real HTTP/2 server. ---

type Routes = (router: ConnectRouter) => void;
type UseTransport = (transport: Transport) => Promise<void>;

/** Server interceptors: they see each call as the server handles it. */
const transportKinds: {
  name: string;
  run: (routes: Routes, use: UseTransport, interceptors?: Interceptor[]) => Promise<void>;
}[] = [
  {
    name: 'in-memory',
    run: (routes, use, interceptors = []) =>
      use(createRouterTransport(routes, { router: { interceptors } })),
  },
  { name: 'HTTP/2', run: withHttp2Server },
];

async function withHttp2Server(
  routes: Routes,
  use: UseTransport,
  interceptors: Interceptor[] = [],
): Promise<void> {
  const server = http2.createServer(connectNodeAdapter({ routes, interceptors }));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  try {
    await use(createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
  } finally {
    for (const session of sessions) session.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

// --- A readiness the test controls ---

interface Readiness {
  ready: boolean;
  failing: boolean;
  calls: number;
}

function setup(pollIntervalMs = 10) {
  const readiness: Readiness = { ready: true, failing: false, calls: 0 };
  const shutdown = new AbortController();
  const routes = healthRoutes({
    checkReady: async () => {
      readiness.calls += 1;
      if (readiness.failing) throw new Error('database unreachable');
      return readiness.ready;
    },
    serviceNames,
    pollIntervalMs,
    shutdownSignal: shutdown.signal,
  });
  return { readiness, shutdown, routes };
}

/**
 * Counts the server-streaming calls whose server side has ended (the handler
 * returned or threw): once a Watch has ended there, nothing polls for it.
 */
function serverSideEnds(): { readonly ended: () => number; readonly interceptor: Interceptor } {
  let ended = 0;
  const onEnd = (): void => {
    ended += 1;
  };
  const interceptor: Interceptor = (next) => async (request) => {
    const response = await next(request);
    if (!response.stream) return response;
    return { ...response, message: observeEnd(response.message, onEnd) };
  };
  return { ended: () => ended, interceptor };
}

async function* observeEnd<T>(messages: AsyncIterable<T>, onEnd: () => void): AsyncIterable<T> {
  try {
    yield* messages;
  } finally {
    onEnd();
  }
}

// --- Tests ---

for (const { name, run } of transportKinds) {
  test(`${name}: Check flips from SERVING to NOT_SERVING when checkReady turns false`, (t) => {
    const { readiness, routes } = setup();
    return run(routes, async (transport) => {
      const client = createClient(Health, transport);
      t.is((await client.check({})).status, ServingStatus.SERVING);
      t.is(
        (await client.check({ service: 'billing.v1.EntitlementsService' })).status,
        ServingStatus.SERVING,
      );
      readiness.ready = false;
      t.is((await client.check({})).status, ServingStatus.NOT_SERVING);
      readiness.ready = true;
      readiness.failing = true;
      t.is((await client.check({})).status, ServingStatus.NOT_SERVING, 'a rejection is not ready');
    });
  });

  test(`${name}: Check of an unknown service fails with NOT_FOUND`, (t) => {
    const { routes } = setup();
    return run(routes, async (transport) => {
      const client = createClient(Health, transport);
      const error = await t.throwsAsync(client.check({ service: 'billing.v1.Nope' }), {
        instanceOf: ConnectError,
      });
      t.is(error?.code, Code.NotFound);
    });
  });

  test(`${name}: after shutdown begins Check says NOT_SERVING without asking checkReady`, (t) => {
    const { readiness, shutdown, routes } = setup();
    return run(routes, async (transport) => {
      shutdown.abort();
      const client = createClient(Health, transport);
      t.is((await client.check({})).status, ServingStatus.NOT_SERVING);
      t.is(readiness.calls, 0);
    });
  });

  test(`${name}: Watch sends the current status, then each change, until the client leaves`, (t) => {
    const { readiness, routes } = setup();
    const server = serverSideEnds();
    return run(
      routes,
      async (transport) => {
        const client = createClient(Health, transport);
        const leave = new AbortController();
        const stream = client
          .watch({ service: 'billing.v1.EntitlementsService' }, { signal: leave.signal })
          [Symbol.asyncIterator]();
        t.is((await stream.next()).value?.status, ServingStatus.SERVING);
        readiness.ready = false;
        t.is((await stream.next()).value?.status, ServingStatus.NOT_SERVING);
        readiness.ready = true;
        t.is((await stream.next()).value?.status, ServingStatus.SERVING);

        leave.abort();
        await t.throwsAsync(stream.next());
        await waitFor(server.ended, { what: 'the server to end the Watch the client left' });
        const callsAfterLeaving = readiness.calls;
        await client.check({});
        t.is(readiness.calls, callsAfterLeaving + 1, 'the server stopped polling');
      },
      [server.interceptor],
    );
  });

  test(`${name}: Watch asks checkReady once per tick`, (t) => {
    const { readiness, routes } = setup(10_000);
    return run(routes, async (transport) => {
      const client = createClient(Health, transport);
      const leave = new AbortController();
      const stream = client.watch({}, { signal: leave.signal })[Symbol.asyncIterator]();
      t.is((await stream.next()).value?.status, ServingStatus.SERVING);
      const next = stream.next();
      // Three round trips on the same connection while the Watch waits for its next tick
      // (10 s away): each asks checkReady once, the Watch not again.
      for (let i = 0; i < 3; i += 1) await client.check({});
      t.is(readiness.calls, 4);
      t.false(await hasSettled(next), 'no message while nothing changes');
      leave.abort();
      await t.throwsAsync(next);
    });
  });

  test(`${name}: Watch repeats no status, however many ticks pass`, (t) => {
    const { readiness, routes } = setup(10);
    return run(routes, async (transport) => {
      const leave = new AbortController();
      const stream = createClient(Health, transport)
        .watch({}, { signal: leave.signal })
        [Symbol.asyncIterator]();
      t.is((await stream.next()).value?.status, ServingStatus.SERVING);
      const next = stream.next();
      await waitFor(() => readiness.calls, { what: 'five ticks', until: (calls) => calls >= 5 });
      readiness.ready = false;
      // Had any tick repeated SERVING, it would come first.
      t.is((await next).value?.status, ServingStatus.NOT_SERVING);
      leave.abort();
      await t.throwsAsync(stream.next());
    });
  });

  test(`${name}: Watch of an unknown service says SERVICE_UNKNOWN and stays open`, (t) => {
    const { routes } = setup();
    return run(routes, async (transport) => {
      const client = createClient(Health, transport);
      const leave = new AbortController();
      const stream = client
        .watch({ service: 'billing.v1.Nope' }, { signal: leave.signal })
        [Symbol.asyncIterator]();
      t.is((await stream.next()).value?.status, ServingStatus.SERVICE_UNKNOWN);
      const next = stream.next();
      await client.check({});
      t.false(await hasSettled(next), 'the call stays open');
      leave.abort();
      const error = await t.throwsAsync(next, { instanceOf: ConnectError });
      t.is(error?.code, Code.Canceled, 'it ends when the client leaves');
    });
  });

  test(`${name}: Watch says NOT_SERVING and ends when shutdown begins`, (t) => {
    const { shutdown, routes } = setup();
    return run(routes, async (transport) => {
      const client = createClient(Health, transport);
      const statuses: ServingStatus[] = [];
      for await (const response of client.watch({})) {
        statuses.push(response.status);
        shutdown.abort();
      }
      t.deepEqual(statuses, [ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
    });
  });

  test(`${name}: Watch ends with DEADLINE_EXCEEDED when the deadline passes`, (t) => {
    const { readiness, routes } = setup();
    const server = serverSideEnds();
    return run(
      routes,
      async (transport) => {
        const statuses: ServingStatus[] = [];
        const watchUntilDeadline = async () => {
          // Long enough for the first status to come first on a loaded machine.
          for await (const response of createClient(Health, transport).watch(
            {},
            { timeoutMs: 2000 },
          )) {
            statuses.push(response.status);
          }
        };
        const error = await t.throwsAsync(watchUntilDeadline(), { instanceOf: ConnectError });
        t.is(error?.code, Code.DeadlineExceeded);
        t.deepEqual(statuses, [ServingStatus.SERVING]);
        await waitFor(server.ended, { what: 'the server to end the Watch past its deadline' });
        const callsAfterDeadline = readiness.calls;
        await createClient(Health, transport).check({});
        t.is(readiness.calls, callsAfterDeadline + 1, 'the server stopped polling');
      },
      [server.interceptor],
    );
  });

  test(`${name}: List gives every known service and the server as a whole`, (t) => {
    const { readiness, routes } = setup();
    return run(routes, async (transport) => {
      readiness.ready = false;
      const { statuses } = await createClient(Health, transport).list({});
      t.deepEqual(Object.keys(statuses).sort(), ['', ...serviceNames].sort());
      for (const response of Object.values(statuses)) {
        t.is(response.status, ServingStatus.NOT_SERVING);
      }
      t.is(readiness.calls, 1);
    });
  });
}
