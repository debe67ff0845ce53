/**
 * Bad input, everywhere: every RPC of every service is fed garbage bytes,
 * wrong JSON types, unknown enum values, huge strings and random messages.
 * It must never answer INTERNAL (or UNKNOWN), never crash the process, and a
 * refused call must change nothing.
 */
import {
  create,
  type DescField,
  type DescMessage,
  type DescMethod,
  type DescMethodStreaming,
  type DescMethodUnary,
  toBinary,
} from '@bufbuild/protobuf';
import { reflect } from '@bufbuild/protobuf/reflect';
import { Code, ConnectError } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { MongoClient } from 'mongodb';
import { AdminService } from '../../gen/billing/v1/admin_pb.js';
import { CheckoutService } from '../../gen/billing/v1/checkout_pb.js';
import { EntitlementsService } from '../../gen/billing/v1/entitlements_pb.js';
import { MetricsService } from '../../gen/billing/v1/metrics_pb.js';
import {
  createPlatformKey,
  createTestProject,
  startTestApp,
  type TestApp,
  type TestPlatformKey,
  type TestProject,
} from '../helpers/app.js';
import { mulberry32 } from '../helpers/random.js';
import { testMongoUrl } from '../helpers/services.js';

let server: TestApp;
let project: TestProject;
let platform: TestPlatformKey;
let mongo: MongoClient;

test.before(async () => {
  server = await startTestApp({
    env: {
      CUSTOMER_TOKEN_SECRETS: 'bad-input-test-secret-0123456789abcdef',
      MAX_REQUEST_BYTES: String(256 * 1024),
      // No Stripe here: checkout calls that pass validation fail fast as UNAVAILABLE.
      STRIPE_API_URL: 'http://127.0.0.1:9',
      STRIPE_TIMEOUT_MS: '200',
    },
  });
  project = await createTestProject(server.app, 'fuzz');
  platform = await createPlatformKey(server.app);
  mongo = await new MongoClient(testMongoUrl()).connect();
});

test.after.always(async () => {
  await mongo?.close();
  await server?.app.stop();
});

const services = [EntitlementsService, CheckoutService, AdminService, MetricsService];
const methods: DescMethod[] = services.flatMap((service) => service.methods);

/** CreateProject takes a platform key; every other method the project's admin key. */
const authFor = (method: DescMethod) => ({
  authorization: `Bearer ${method === AdminService.method.createProject ? platform.key : project.adminKey}`,
});

const seed = Number(process.env.BAD_INPUT_SEED ?? Date.now() % 1_000_000);

function randomString(random: () => number): string {
  const kinds = [
    () => '',
    () => 'x'.repeat(Math.floor(random() * 300_000)),
    () => '\u0000\u0001\u007f',
    () => '💥'.repeat(50),
    () => `price_${'a'.repeat(500)}`,
    () => '../../etc/passwd',
    () => '{"$gt": ""}',
    () => 'gr_0000000000000',
    () => String(random()),
  ];
  return kinds[Math.floor(random() * kinds.length)]?.() ?? '';
}

/** A message of the right shape with hostile values. */
function randomMessage(schema: DescMessage, random: () => number, depth = 0) {
  const message = create(schema);
  const r = reflect(schema, message);
  for (const field of schema.fields) {
    if (random() < 0.3) continue;
    const value = randomValue(field, random, depth);
    if (value !== undefined) {
      try {
        r.set(field, value);
      } catch {
        // The value does not fit the field type: leave it unset.
      }
    }
  }
  return message;
}

function randomValue(field: DescField, random: () => number, depth: number): unknown {
  switch (field.fieldKind) {
    case 'scalar':
      if (field.scalar === 9 /* string */) return randomString(random);
      if (field.scalar === 8 /* bool */) return random() < 0.5;
      if (field.scalar === 3 || field.scalar === 18 || field.scalar === 16 /* int64 kinds */) {
        return [0n, -1n, 9_223_372_036_854_775_807n, -9_223_372_036_854_775_808n, 42n][
          Math.floor(random() * 5)
        ];
      }
      return [0, -1, 2_147_483_647, -2_147_483_648, 7][Math.floor(random() * 5)];
    case 'enum':
      return [0, 1, 2, 3, 99, -5][Math.floor(random() * 6)];
    case 'message':
      return depth > 3
        ? undefined
        : reflect(field.message, randomMessage(field.message, random, depth + 1));
    default:
      return undefined;
  }
}

async function changeCounts(): Promise<string> {
  const db = mongo.db(server.config.mongodbDatabase);
  const names = ['api_keys', 'grants', 'audit_log', 'projects', 'customers', 'reconciliation_runs'];
  const counts = await Promise.all(names.map((name) => db.collection(name).countDocuments()));
  return counts.join(',');
}

async function rawPost(
  method: DescMethod,
  body: Uint8Array | string,
  contentType: string,
): Promise<{ status: number; code: string }> {
  const response = await fetch(`${server.baseUrl}/${method.parent.typeName}/${method.name}`, {
    method: 'POST',
    headers: {
      'content-type': contentType,
      'connect-protocol-version': '1',
      ...authFor(method),
    },
    body,
  });
  const text = await response.text();
  let code = 'ok';
  try {
    code = (JSON.parse(text) as { code?: string }).code ?? 'ok';
  } catch {
    // A streaming answer or proto body: judged by status.
  }
  return { status: response.status, code };
}

test.serial('garbage bytes and wrong JSON types never give INTERNAL', async (t) => {
  const random = mulberry32(seed);
  t.log(`seed ${seed} (rerun with BAD_INPUT_SEED=${seed})`);
  const before = await changeCounts();
  for (const method of methods.filter((m) => m.methodKind === 'unary')) {
    const garbage = Uint8Array.from({ length: 1 + Math.floor(random() * 200) }, () =>
      Math.floor(random() * 256),
    );
    for (const [body, type] of [
      [garbage, 'application/proto'],
      ['{"customer_id": 12, "feature": ["a"]}', 'application/json'],
      ['{"mode": "NOT_A_MODE", "line_items": "x"}', 'application/json'],
      ['{not json', 'application/json'],
      ['null', 'application/json'],
    ] as const) {
      const answer = await rawPost(method, body, type);
      t.not(answer.code, 'internal', `${method.name} with ${type}`);
      t.not(answer.code, 'unknown', `${method.name} with ${type}`);
      t.true(
        answer.status < 500 || answer.code === 'unavailable',
        `${method.name}: HTTP ${answer.status}`,
      );
    }
  }
  t.is(await changeCounts(), before, 'refused input changed nothing');
});

test.serial(
  'random hostile messages never give INTERNAL, and refusals change nothing',
  async (t) => {
    const random = mulberry32(seed + 1);
    const transport = createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' });
    let refused = 0;
    for (let round = 0; round < 25; round++) {
      for (const method of methods) {
        const input = randomMessage(method.input, random);
        if (toBinary(method.input, input).length > 256 * 1024) continue; // over the limit: covered below
        const before = await changeCounts();
        let code: Code | 'ok' = 'ok';
        try {
          if (method.methodKind === 'unary') {
            await transport.unary(
              method as DescMethodUnary,
              undefined,
              5000,
              authFor(method),
              input,
            );
          } else if (method.methodKind === 'server_streaming') {
            const abort = new AbortController();
            const response = await transport.stream(
              method as DescMethodStreaming,
              abort.signal,
              5000,
              authFor(method),
              (async function* () {
                yield input;
              })(),
            );
            for await (const _ of response.message) break;
            abort.abort();
          }
        } catch (err) {
          code = ConnectError.from(err).code;
        }
        t.not(code, Code.Internal, `${method.name} round ${round}`);
        t.not(code, Code.Unknown, `${method.name} round ${round}`);
        if (code !== 'ok' && code !== Code.Canceled) {
          refused += 1;
          t.is(await changeCounts(), before, `${method.name} refused but changed something`);
        }
      }
    }
    t.true(refused > 100, `${refused} refusals exercised`);
    const health = await fetch(`${server.baseUrl}/healthz`);
    t.is(health.status, 200, 'the process is alive');
  },
);

function isTimeField(field: DescField): boolean {
  if (field.fieldKind !== 'message') return false;
  const name = field.message.typeName;
  return name === 'google.protobuf.Timestamp' || name === 'google.protobuf.Duration';
}

test.serial(
  'Timestamp and Duration fields out of range are INVALID_ARGUMENT and change nothing',
  async (t) => {
    const transport = createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' });
    const extremes = [
      { seconds: 9_223_372_036_854_775_807n, nanos: 0 },
      { seconds: -9_223_372_036_854_775_808n, nanos: 0 },
      { seconds: 253_402_300_800n, nanos: 0 }, // one second past 9999-12-31
      { seconds: 4_102_444_800n, nanos: -1 },
      { seconds: 4_102_444_800n, nanos: 2_147_483_647 },
    ];
    let tried = 0;
    for (const method of methods.filter((m) => m.methodKind === 'unary')) {
      for (const field of method.input.fields.filter(isTimeField)) {
        for (const extreme of extremes) {
          const input = create(method.input, {
            customerId: 'cus_extreme',
            feature: 'feature_x',
            reason: 'extreme time',
            [field.localName]: extreme,
          });
          const before = await changeCounts();
          let code: Code | 'ok' = 'ok';
          try {
            await transport.unary(
              method as DescMethodUnary,
              undefined,
              5000,
              authFor(method),
              input,
            );
          } catch (err) {
            code = ConnectError.from(err).code;
          }
          tried += 1;
          const label = `${method.name}.${field.name} = ${extreme.seconds}s ${extreme.nanos}ns`;
          t.is(code, Code.InvalidArgument, label);
          t.is(await changeCounts(), before, `${label} changed something`);
        }
      }
    }
    t.true(tried >= 30, `${tried} extreme times tried`);
  },
);

test.serial('an oversized request is refused by the configured limit', async (t) => {
  const transport = createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' });
  const input = create(EntitlementsService.method.checkEntitlement.input, {
    customerId: 'x'.repeat(300_000),
    feature: 'f',
  });
  const err = await t.throwsAsync(
    transport.unary(
      EntitlementsService.method.checkEntitlement,
      undefined,
      5000,
      { authorization: `Bearer ${project.adminKey}` },
      input,
    ),
  );
  t.is(ConnectError.from(err).code, Code.ResourceExhausted);
});
