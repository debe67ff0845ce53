/**
 * The native gRPC path (src/server/grpc-streams.ts) on the real one-port
 * listener, in front of the connect handler, with a test Health service:
 * @grpc/grpc-js calls unary and streaming methods; deadlines, client
 * cancellation, message size, unknown methods and bad envelopes answer
 * the spec's status; and one HTTP/2 connection carries gRPC and Connect
 * calls side by side.
 */
import http2 from 'node:http2';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  Code,
  ConnectError,
  type ConnectRouter,
  type HandlerContext,
  type Interceptor,
} from '@connectrpc/connect';
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import {
  Health,
  type HealthCheckRequest,
  HealthCheckRequestSchema,
  type HealthCheckResponse,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from '../../gen/health/v1/health_pb.js';
import { defaultHttpTimeouts } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createConnectHandler } from '../../src/server/connect-handler.js';
import { percentEncodeGrpcMessage } from '../../src/server/grpc-responses.js';
import { createGrpcStreams } from '../../src/server/grpc-streams.js';
import { type Listener, listen } from '../../src/server/listener.js';
import { MapHeaders } from '../../src/server/map-headers.js';
import { recordRoutes } from '../../src/server/recorded-routes.js';

const readMaxBytes = 256;
const unicodeMessage = 'naïve café: 100% ✓';
const SERVING = HealthCheckResponse_ServingStatus.SERVING;

/**
 * What the test service saw: the protocol of each call by its service name
 * ("native-grpc" when the native path's headers reached the handler), and
 * who waits for the signal of a call to abort.
 */
interface Observed {
  readonly protocols: Map<string, string>;
  readonly onAborted: Map<string, () => void>;
}

function protocolOf(context: HandlerContext): string {
  return context.requestHeader instanceof MapHeaders ? 'native-grpc' : context.protocolName;
}

/** Resolves once `signal` aborts (at once when it already has: the deadline may pass first). */
function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve()));
}

function waitForAbort(service: string): Promise<void> {
  return new Promise((resolve) => observed.onAborted.set(service, resolve));
}

function healthRoutes(observed: Observed) {
  return (router: ConnectRouter) =>
    router.service(Health, {
      async check(request, context) {
        observed.protocols.set(request.service, protocolOf(context));
        if (request.service === 'unicode') {
          throw new ConnectError(unicodeMessage, Code.FailedPrecondition);
        }
        if (request.service === 'slow') {
          // Only the deadline ends this call.
          await aborted(context.signal);
          observed.onAborted.get(request.service)?.();
        }
        if (request.service === 'crash') throw new Error('a bug, not the client');
        context.responseHeader.set('x-answered-by', 'health');
        return { status: SERVING };
      },
      async *watch(request, context) {
        yield { status: SERVING };
        await aborted(context.signal);
        observed.onAborted.get(request.service)?.();
      },
    });
}

/** An interceptor on every protocol: refuses a call carrying "x-refuse", as auth would. */
const refuseInterceptor: Interceptor = (next) => async (req) => {
  if (req.header.get('x-refuse') !== null) {
    throw new ConnectError(
      `refused ${req.method.name} of ${req.service.typeName}`,
      Code.PermissionDenied,
    );
  }
  return next(req);
};

async function startServer(observed: Observed): Promise<Listener> {
  const logger = createLogger({ level: 'error' });
  const routes = recordRoutes(healthRoutes(observed));
  const shutdown = new AbortController();
  const limits = { readMaxBytes, shutdownSignal: shutdown.signal };
  const interceptors = [refuseInterceptor];
  const handler = createConnectHandler({
    routes: routes.register,
    interceptors,
    ...limits,
    logger,
    fallback: (_req, res) => {
      res.writeHead(404);
      res.end();
    },
  });
  return listen(handler, {
    host: '127.0.0.1',
    port: 0,
    tls: undefined,
    timeouts: defaultHttpTimeouts,
    streams: createGrpcStreams({ routes, interceptors, logger, ...limits }),
  });
}

const observed: Observed = { protocols: new Map(), onAborted: new Map() };
let listener: Listener;
let client: grpc.Client;

test.before(async () => {
  listener = await startServer(observed);
  client = new grpc.Client(`127.0.0.1:${listener.port}`, grpc.credentials.createInsecure());
});

test.after.always(async () => {
  client?.close();
  await listener?.close(100);
});

const serialize = (value: HealthCheckRequest) =>
  Buffer.from(toBinary(HealthCheckRequestSchema, value));
const deserialize = (bytes: Buffer) => fromBinary(HealthCheckResponseSchema, bytes);

interface UnaryOutcome {
  readonly response?: HealthCheckResponse;
  readonly error?: grpc.ServiceError;
  readonly headers: grpc.Metadata;
}

function check(
  service: string,
  options: grpc.CallOptions = {},
  metadata = new grpc.Metadata(),
  method = 'Check',
): Promise<UnaryOutcome> {
  return new Promise((resolve) => {
    let headers = new grpc.Metadata();
    const call = client.makeUnaryRequest(
      `/grpc.health.v1.Health/${method}`,
      serialize,
      deserialize,
      create(HealthCheckRequestSchema, { service }),
      metadata,
      options,
      (err, response) => resolve({ response, error: err ?? undefined, headers }),
    );
    call.on('metadata', (received) => {
      headers = received;
    });
  });
}

test("a grpc-js unary call is answered natively, with the handler's response header", async (t) => {
  const outcome = await check('unary');
  t.is(outcome.error, undefined);
  t.is(outcome.response?.status, SERVING);
  t.deepEqual(outcome.headers.get('x-answered-by'), ['health']);
  t.is(observed.protocols.get('unary'), 'native-grpc');
});

test('an interceptor refuses a native call with its own status and message', async (t) => {
  const metadata = new grpc.Metadata();
  metadata.set('x-refuse', 'yes');
  const outcome = await check('', {}, metadata);
  t.is(outcome.error?.code, grpc.status.PERMISSION_DENIED);
  t.is(outcome.error?.details, 'refused Check of grpc.health.v1.Health');
});

test('a server stream sends its messages, and the client cancelling it aborts the handler', async (t) => {
  const aborted = waitForAbort('cancelled-watch');
  const call = client.makeServerStreamRequest(
    '/grpc.health.v1.Health/Watch',
    serialize,
    deserialize,
    create(HealthCheckRequestSchema, { service: 'cancelled-watch' }),
  );
  const first = await new Promise<HealthCheckResponse>((resolve) => call.once('data', resolve));
  t.is(first.status, SERVING);
  const ended = new Promise<grpc.StatusObject>((resolve) => call.once('status', resolve));
  call.on('error', () => {});
  call.cancel();
  // The handler's signal aborted: the stream's resources are freed.
  await aborted;
  t.is((await ended).code, grpc.status.CANCELLED);
});

test('a call past its deadline is DEADLINE_EXCEEDED, and its signal aborts', async (t) => {
  const aborted = waitForAbort('slow');
  // The deadline travels as grpc-timeout and runs from the server's receipt:
  // written by hand, the call reaches the handler however slow the machine
  // (a client's own deadline could pass before the request is even sent).
  const raw = await rawCall('/grpc.health.v1.Health/Check', envelope(requestBytes('slow')), {
    headers: { 'grpc-timeout': '200m' },
  });
  t.is(raw.status, String(Code.DeadlineExceeded), raw.message);
  await aborted;
  // The server answered, not only the client's own timer: the connection still serves.
  const next = await check('');
  t.is(next.response?.status, SERVING);
});

test('a request over readMaxBytes is RESOURCE_EXHAUSTED', async (t) => {
  const outcome = await check('x'.repeat(readMaxBytes * 4));
  t.is(outcome.error?.code, grpc.status.RESOURCE_EXHAUSTED);
  t.regex(outcome.error?.details ?? '', /readMaxBytes/);
});

test('an unknown method is UNIMPLEMENTED', async (t) => {
  const outcome = await check('', {}, new grpc.Metadata(), 'NoSuchMethod');
  t.is(outcome.error?.code, grpc.status.UNIMPLEMENTED);
});

test('grpc-message with non-ASCII text is percent-encoded per the spec and decodes back', async (t) => {
  t.is(percentEncodeGrpcMessage('plain text, spaces kept'), 'plain text, spaces kept');
  t.is(percentEncodeGrpcMessage('100% ✓'), '100%25 %E2%9C%93');
  const raw = await rawCall('/grpc.health.v1.Health/Check', envelope(requestBytes('unicode')));
  t.is(raw.status, String(Code.FailedPrecondition));
  t.is(raw.message, 'na%C3%AFve caf%C3%A9: 100%25 %E2%9C%93');
  const outcome = await check('unicode');
  t.is(outcome.error?.details, unicodeMessage);
});

test('a failure nobody mapped is INTERNAL with a generic message', async (t) => {
  const outcome = await check('crash');
  t.is(outcome.error?.code, grpc.status.INTERNAL);
  t.is(outcome.error?.details, 'internal error');
});

const badBodies: Record<string, Uint8Array> = {
  'a truncated envelope header': new Uint8Array([0, 0, 0]),
  'an envelope longer than its body': new Uint8Array([0, 0, 0, 0, 9, 1, 2]),
  'a compressed flag without grpc-encoding': new Uint8Array([1, 0, 0, 0, 0]),
  'bytes that are not a HealthCheckRequest': envelope(new Uint8Array([0x0a, 0xff, 0xff])),
  'no message at all': new Uint8Array(0),
  'two messages for a unary call': Buffer.concat([
    envelope(requestBytes('a')),
    envelope(requestBytes('b')),
  ]),
};

for (const [name, body] of Object.entries(badBodies)) {
  test(`${name} is INVALID_ARGUMENT, and the server keeps serving`, async (t) => {
    const raw = await rawCall('/grpc.health.v1.Health/Check', body);
    t.is(raw.httpStatus, 200);
    t.is(raw.status, String(Code.InvalidArgument), raw.message);
    t.is((await check('')).response?.status, SERVING);
  });
}

test('one HTTP/2 connection carries a native gRPC call and a Connect call', async (t) => {
  const session = http2.connect(`http://127.0.0.1:${listener.port}`);
  try {
    const grpcCall = rawCall(
      '/grpc.health.v1.Health/Check',
      envelope(requestBytes('same-connection-grpc')),
      { session },
    );
    const connectCall = request(session, {
      path: '/grpc.health.v1.Health/Check',
      contentType: 'application/proto',
      body: requestBytes('same-connection-connect'),
    });
    const [viaGrpc, viaConnect] = await Promise.all([grpcCall, connectCall]);
    t.is(viaGrpc.status, '0');
    t.is(Number(viaConnect.headers[':status']), 200);
    t.is(fromBinary(HealthCheckResponseSchema, viaConnect.body).status, SERVING);
    t.is(observed.protocols.get('same-connection-grpc'), 'native-grpc');
    t.is(observed.protocols.get('same-connection-connect'), 'connect');
  } finally {
    session.close();
  }
});

function requestBytes(service: string): Uint8Array {
  return toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service }));
}

function envelope(message: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

interface RawResponse {
  readonly headers: http2.IncomingHttpHeaders;
  readonly trailers: http2.IncomingHttpHeaders;
  readonly body: Buffer;
}

function request(
  session: http2.ClientHttp2Session,
  call: {
    path: string;
    contentType: string;
    body: Uint8Array;
    headers?: http2.OutgoingHttpHeaders;
  },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ':method': 'POST',
      ':path': call.path,
      'content-type': call.contentType,
      te: 'trailers',
      ...call.headers,
    });
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (received) => {
      headers = received;
    });
    stream.on('trailers', (received) => {
      trailers = received;
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', reject);
    stream.on('end', () => resolve({ headers, trailers, body: Buffer.concat(chunks) }));
    stream.end(call.body);
  });
}

/** A gRPC call written by hand; the status from the trailers, or the headers of a Trailers-Only answer. */
async function rawCall(
  path: string,
  body: Uint8Array,
  options: { session?: http2.ClientHttp2Session; headers?: http2.OutgoingHttpHeaders } = {},
): Promise<{
  httpStatus: number | undefined;
  status: string | undefined;
  message: string | undefined;
}> {
  const shared = options.session;
  const session = shared ?? http2.connect(`http://127.0.0.1:${listener.port}`);
  try {
    const answer = await request(session, {
      path,
      contentType: 'application/grpc',
      body,
      headers: options.headers,
    });
    const status = answer.trailers['grpc-status'] ?? answer.headers['grpc-status'];
    const message = answer.trailers['grpc-message'] ?? answer.headers['grpc-message'];
    return {
      httpStatus: Number(answer.headers[':status']),
      status: typeof status === 'string' ? status : undefined,
      message: typeof message === 'string' ? message : undefined,
    };
  } finally {
    if (!shared) session.close();
  }
}
