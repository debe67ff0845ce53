/**
 * The one mapper from anything thrown to a status code (src/api/errors.ts),
 * and the classification it shares with the webhook give-up rule. Pure: no
 * servers; the interceptor runs in memory.
 */
import { Code, ConnectError, createClient, createRouterTransport } from '@connectrpc/connect';
import test from 'ava';
import {
  MongoError,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoServerError,
  MongoTopologyClosedError,
} from 'mongodb';
import Stripe from 'stripe';
import { Health } from '../../gen/health/v1/health_pb.js';
import { createErrorInterceptor, toConnectError } from '../../src/api/errors.js';
import {
  ConflictError,
  DependencyUnavailableError,
  FailedPreconditionError,
  InvalidInputError,
  maxCauseDepth,
  NotFoundError,
} from '../../src/domain/errors.js';
import { classifyFailure, isDependencyDown } from '../../src/failure-classification.js';
import { createLogger } from '../../src/logger.js';

const { errors } = Stripe;

/** `inner` wrapped `levels` times, each wrapper keeping the one below as its cause. */
function wrapped(inner: unknown, levels: number): Error {
  let current = inner;
  for (let level = 0; level < levels; level++)
    current = new Error(`wrapper ${level}`, { cause: current });
  return current as Error;
}

function mapped(err: unknown): { code: Code; message: string } {
  const connectError = toConnectError(err);
  return { code: connectError.code, message: connectError.rawMessage };
}

const domainCases = [
  {
    error: new InvalidInputError('name: is required', { field: 'name' }),
    code: Code.InvalidArgument,
  },
  { error: new NotFoundError('grant gr_1'), code: Code.NotFound },
  { error: new FailedPreconditionError('no Stripe key'), code: Code.FailedPrecondition },
  { error: new ConflictError('a reconciliation is starting'), code: Code.Aborted },
  { error: new DependencyUnavailableError('redis'), code: Code.Unavailable },
];

test('each domain error answers its code with its own message', (t) => {
  for (const { error, code } of domainCases)
    t.deepEqual(mapped(error), { code, message: error.message }, error.name);
});

test('a domain error two causes deep answers its code', (t) => {
  for (const { error, code } of domainCases)
    t.deepEqual(mapped(wrapped(error, 2)), { code, message: error.message }, error.name);
});

test('a ConnectError passes unchanged', (t) => {
  const refused = new ConnectError('key_id: must be 16 hex', Code.InvalidArgument);
  t.is(toConnectError(refused), refused);
});

test("Stripe's errors answer by type; its messages name the parameter", (t) => {
  const raw = { message: 'No such price', param: 'line_items[0][price]' };
  t.deepEqual(mapped(new errors.StripeInvalidRequestError(raw)), {
    code: Code.InvalidArgument,
    message: 'stripe: No such price (line_items[0][price])',
  });
  t.deepEqual(mapped(new errors.StripeInvalidRequestError({ message: 'Bad' })), {
    code: Code.InvalidArgument,
    message: 'stripe: Bad',
  });
  t.deepEqual(mapped(new errors.StripeCardError({ message: 'declined' })), {
    code: Code.FailedPrecondition,
    message: 'stripe: declined',
  });
  t.is(
    mapped(new errors.StripeIdempotencyError({ message: 'reused' })).code,
    Code.FailedPrecondition,
  );
  for (const refused of [
    new errors.StripeAuthenticationError({ message: 'Invalid API Key provided: sk_test_***' }),
    new errors.StripePermissionError({ message: 'restricted key' }),
  ]) {
    t.deepEqual(mapped(refused), {
      code: Code.FailedPrecondition,
      message: "stripe rejected the project's secret key",
    });
  }
  for (const down of [
    new errors.StripeConnectionError({ message: 'socket hang up' }),
    new errors.StripeAPIError({ message: 'oops' }),
    new errors.StripeRateLimitError({ message: 'slow down' }),
    // A type this SDK version does not name: a retry may get past it.
    { type: 'StripeSomethingNewError', message: 'what' },
  ]) {
    t.deepEqual(mapped(down), {
      code: Code.Unavailable,
      message: 'stripe is unavailable; retry later',
    });
  }
  t.is(
    mapped(wrapped(new errors.StripeCardError({ message: 'declined' }), 2)).code,
    Code.FailedPrecondition,
  );
});

/** The label the driver puts on a write that failed because the server went away. */
function retryableWrite(): MongoError {
  const err = new MongoError('connection closed during write');
  err.addErrorLabel('RetryableWriteError');
  return err;
}

test('MongoDB unreachable and socket errors answer UNAVAILABLE, even wrapped', (t) => {
  const unavailable = {
    code: Code.Unavailable,
    message: 'a dependency is unavailable; retry later',
  };
  const unreachable = [
    new MongoNetworkError('connection refused'),
    retryableWrite(),
    new MongoNotConnectedError('not connected'),
    new MongoTopologyClosedError('closed'),
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' }),
    Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
    Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' }),
    Object.assign(new Error('broken pipe'), { code: 'EPIPE' }),
  ];
  for (const err of unreachable) {
    t.deepEqual(mapped(err), unavailable, err.message);
    t.deepEqual(mapped(wrapped(err, 2)), unavailable, `${err.message}, wrapped`);
  }
});

test('anything else is INTERNAL with a generic message', (t) => {
  const internal = { code: Code.Internal, message: 'internal error' };
  for (const err of [
    new TypeError("Cannot read properties of undefined (reading 'secret')"),
    new MongoServerError({ message: 'E11000 duplicate key', code: 11000 }),
    Object.assign(new Error('no such file'), { code: 'ENOENT' }),
    'a string',
    undefined,
    { type: 'NotStripe', message: 'shaped like nothing' },
  ]) {
    t.deepEqual(mapped(err), internal, String(err));
  }
});

test('the cause chain is followed only so deep', (t) => {
  const notFound = new NotFoundError('project');
  t.is(mapped(wrapped(notFound, maxCauseDepth - 1)).code, Code.NotFound);
  t.deepEqual(mapped(wrapped(notFound, maxCauseDepth)), {
    code: Code.Internal,
    message: 'internal error',
  });
  const looping = new Error('a');
  looping.cause = new Error('b', { cause: looping });
  t.is(mapped(looping).code, Code.Internal);
});

test('the webhook give-up rule and the mapper share one classification', (t) => {
  const samples: unknown[] = [
    new errors.StripeConnectionError({ message: 'down' }),
    new errors.StripeInvalidRequestError({ message: 'bad' }),
    new MongoNetworkError('gone'),
    wrapped(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), 2),
    new DependencyUnavailableError('redis'),
    new NotFoundError('project'),
    new TypeError('bug'),
  ];
  for (const err of samples) {
    t.is(isDependencyDown(err), mapped(err).code === Code.Unavailable, String(err));
    t.is(classifyFailure(err) === undefined, mapped(err).code === Code.Internal, String(err));
  }
});

/** A Health service whose every call fails with `failure`, behind the real error interceptor. */
function failingHealth(failure: unknown) {
  const logged: { level: string; msg: string; code?: string; error?: { message: string } }[] = [];
  const logger = createLogger({
    level: 'debug',
    write: (line) => logged.push(JSON.parse(line) as (typeof logged)[number]),
  });
  const transport = createRouterTransport(
    (router) =>
      router.service(Health, {
        check() {
          throw failure;
        },
        // biome-ignore lint/correctness/useYield: the stream fails before its first message.
        async *watch() {
          throw failure;
        },
        list() {
          throw failure;
        },
      }),
    { router: { interceptors: [createErrorInterceptor(logger)] } },
  );
  return { client: createClient(Health, transport), logged };
}

test('an RPC failure is answered by the mapper; its details go only to the log', async (t) => {
  const secret = new Error('password=hunter2 rejected by the driver');
  const { client, logged } = failingHealth(secret);
  const err = await t.throwsAsync(client.check({}));
  t.deepEqual(
    { code: ConnectError.from(err).code, message: ConnectError.from(err).rawMessage },
    { code: Code.Internal, message: 'internal error' },
  );
  t.is(logged.length, 1);
  t.like(logged[0], { level: 'error', msg: 'rpc failed', code: 'Internal' });
  t.regex(logged[0]?.error?.message ?? '', /hunter2/);
});

test('a stream that fails while it is read is answered by the mapper too', async (t) => {
  const { client } = failingHealth(wrapped(new MongoNetworkError('gone'), 1));
  const err = await t.throwsAsync(async () => {
    for await (const _ of client.watch({})) t.fail('no message expected');
  });
  t.is(ConnectError.from(err).code, Code.Unavailable);
  t.is(ConnectError.from(err).rawMessage, 'a dependency is unavailable; retry later');
});
