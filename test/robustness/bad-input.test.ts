// needs: mongodb redis
/**
 * Bad input, everywhere: every RPC of every service is fed garbage bytes,
 * wrong JSON types, unknown enum values, huge strings and random messages.
 * It must never answer INTERNAL (or UNKNOWN), never crash the process, and a
 * refused call must change nothing.
 */
import http2 from 'node:http2';
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
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { MongoClient } from 'mongodb';
import { AdminService, Scope } from '../../gen/billing/v1/admin_pb.js';
import { CheckoutMode, CheckoutService } from '../../gen/billing/v1/checkout_pb.js';
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
import { codeOf } from '../helpers/rpc.js';
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
  const names = [
    'api_keys',
    'grants',
    'credit_grants',
    'audit_log',
    'projects',
    'customers',
    'reconciliation_runs',
  ];
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

interface RawAnswer {
  readonly headers: http2.IncomingHttpHeaders;
  readonly trailers: http2.IncomingHttpHeaders;
  readonly body: Buffer;
}

/** One HTTP/2 request with exactly these headers and body, nothing added by a client library. */
async function http2Post(path: string, headers: Record<string, string>, body: Uint8Array) {
  const session = http2.connect(server.baseUrl);
  try {
    return await new Promise<RawAnswer>((resolve, reject) => {
      const request = session.request({ ':method': 'POST', ':path': path, ...headers });
      let responseHeaders: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      request.on('response', (h) => {
        responseHeaders = h;
      });
      request.on('trailers', (h) => {
        trailers = h;
      });
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () =>
        resolve({ headers: responseHeaders, trailers, body: Buffer.concat(chunks) }),
      );
      request.on('error', reject);
      request.end(body);
    });
  } finally {
    session.close();
  }
}

function envelope(flags: number, data: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(5 + data.length);
  bytes[0] = flags;
  new DataView(bytes.buffer).setUint32(1, data.length);
  bytes.set(data, 5);
  return bytes;
}

/** The envelopes of a streamed body: [flags, payload]. */
function envelopesOf(body: Buffer): Array<[number, Buffer]> {
  const found: Array<[number, Buffer]> = [];
  for (let offset = 0; offset + 5 <= body.length; ) {
    const length = body.readUInt32BE(offset + 1);
    found.push([body[offset] ?? 0, body.subarray(offset + 5, offset + 5 + length)]);
    offset += 5 + length;
  }
  return found;
}

/** The status code of a gRPC, gRPC-Web or Connect streaming answer, as its protocol carries it. */
function statusOf(protocol: string, answer: RawAnswer): string {
  if (protocol === 'grpc') {
    return String(answer.trailers['grpc-status'] ?? answer.headers['grpc-status'] ?? 'none');
  }
  const last = envelopesOf(answer.body).at(-1);
  if (!last) return String(answer.headers['grpc-status'] ?? `http ${answer.headers[':status']}`);
  if (protocol === 'grpc-web') {
    return /grpc-status:\s*(\d+)/i.exec(last[1].toString())?.[1] ?? 'none';
  }
  const end = JSON.parse(last[1].toString()) as { error?: { code?: string } };
  return end.error?.code ?? 'ok';
}

test.serial(
  'a compressed envelope without a message encoding is INVALID_ARGUMENT on every RPC',
  async (t) => {
    const invalidArgument = { grpc: '3', 'grpc-web': '3', connect: 'invalid_argument' };
    // Permission checks run before the body is looked at; a refusal there is fine too.
    const permissionDenied = { grpc: '7', 'grpc-web': '7', connect: 'permission_denied' };
    const before = await changeCounts();
    let tried = 0;
    for (const method of methods) {
      const protocols: Array<['grpc' | 'grpc-web' | 'connect', string]> = [
        ['grpc', 'application/grpc+proto'],
        ['grpc-web', 'application/grpc-web+proto'],
      ];
      if (method.methodKind !== 'unary') protocols.push(['connect', 'application/connect+proto']);
      for (const [protocol, contentType] of protocols) {
        const message = toBinary(method.input, create(method.input));
        const answer = await http2Post(
          `/${method.parent.typeName}/${method.name}`,
          {
            'content-type': contentType,
            te: 'trailers',
            'connect-protocol-version': '1',
            authorization: `Bearer ${project.adminKey}`,
          },
          envelope(0x01, message),
        );
        const status = statusOf(protocol, answer);
        tried += 1;
        t.true(
          status === invalidArgument[protocol] || status === permissionDenied[protocol],
          `${method.name} over ${protocol}: ${status}`,
        );
      }
    }
    t.true(tried >= 2 * methods.length, `${tried} calls for ${methods.length} RPCs`);
    t.is(await changeCounts(), before, 'refused input changed nothing');
  },
);

function adminClient() {
  const transport = createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' });
  return createClient(AdminService, transport);
}

const auth = () => ({ headers: { authorization: `Bearer ${project.adminKey}` } });

test.serial('page tokens this service did not issue are INVALID_ARGUMENT', async (t) => {
  const admin = adminClient();
  for (const customerId of ['cus_page_a', 'cus_page_b', 'cus_page_c']) {
    await admin.grantEntitlement({ customerId, feature: 'paged', reason: 'paging' }, auth());
  }
  const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
  const foreign = [
    'not a token!',
    b64('anything at all'),
    b64('gr_../../x'),
    `${b64('2026-01-01T00:00:00.000Z|x')}==`,
    b64('\u0000'),
    'Zg=', // not canonical base64url
  ];
  const lists = {
    ListGrants: (pageToken: string) => admin.listGrants({ pageToken, pageSize: 1 }, auth()),
    ListAuditLog: (pageToken: string) => admin.listAuditLog({ pageToken, pageSize: 1 }, auth()),
    ListReconciliationRuns: (pageToken: string) =>
      admin.listReconciliationRuns({ pageToken, pageSize: 1 }, auth()),
  };
  for (const [name, list] of Object.entries(lists)) {
    for (const token of foreign) {
      t.is(
        await codeOf(list(token)),
        Code.InvalidArgument,
        `${name} with ${JSON.stringify(token)}`,
      );
    }
  }
  // The tokens it issues still page through everything.
  const seen: string[] = [];
  let pageToken = '';
  do {
    const page = await admin.listGrants({ pageToken, pageSize: 1 }, auth());
    seen.push(...page.grants.map((g) => g.customerId));
    pageToken = page.nextPageToken;
  } while (pageToken !== '');
  t.true(['cus_page_a', 'cus_page_b', 'cus_page_c'].every((id) => seen.includes(id)));
  const audit = await admin.listAuditLog({ pageSize: 1 }, auth());
  t.is(await codeOf(lists.ListAuditLog(audit.nextPageToken)), 'ok', 'an issued audit token');
});

async function writeCounts(): Promise<string> {
  const db = mongo.db(server.config.mongodbDatabase);
  return `${await changeCounts()},${await db.collection('idempotency_records').countDocuments()}`;
}

test.serial(
  'control characters in free text and idempotency keys are INVALID_ARGUMENT and change nothing',
  async (t) => {
    const admin = adminClient();
    const transport = createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' });
    const checkout = createClient(CheckoutService, transport);
    const grant = await admin.grantEntitlement(
      { customerId: 'cus_ctl', feature: 'ctl', reason: 'to revoke' },
      auth(),
    );
    const grantId = grant.grant?.id ?? '';
    // Each call is valid as written; the test puts a control character into one field.
    const calls: Record<string, (text: (field: string) => string) => Promise<unknown>> = {
      GrantEntitlement: (text) =>
        admin.grantEntitlement(
          {
            customerId: 'cus_ctl',
            feature: 'ctl',
            reason: text('reason'),
            idempotencyKey: text('idempotency_key'),
          },
          auth(),
        ),
      RevokeGrant: (text) =>
        admin.revokeGrant(
          { grantId, reason: text('reason'), idempotencyKey: text('idempotency_key') },
          auth(),
        ),
      CreateApiKey: (text) =>
        admin.createApiKey(
          {
            name: text('name'),
            scopes: [Scope.ENTITLEMENTS_READ],
            reason: text('reason'),
            idempotencyKey: text('idempotency_key'),
          },
          auth(),
        ),
      UpdateProject: (text) =>
        admin.updateProject(
          {
            name: text('name'),
            reason: text('reason'),
            idempotencyKey: text('idempotency_key'),
          },
          auth(),
        ),
      ListAuditLog: (text) =>
        admin.listAuditLog(
          { actor: text('actor'), action: text('action'), target: text('target') },
          auth(),
        ),
      CreateCheckoutSession: (text) =>
        checkout.createCheckoutSession(
          {
            customerId: 'cus_ctl',
            mode: CheckoutMode.SUBSCRIPTION,
            lineItems: [{ priceId: 'price_ctl', quantity: 1n }],
            successUrl: 'https://example.com/ok',
            cancelUrl: 'https://example.com/cancel',
            idempotencyKey: text('idempotency_key'),
          },
          auth(),
        ),
    };
    const fields: Record<string, string[]> = {
      GrantEntitlement: ['reason', 'idempotency_key'],
      RevokeGrant: ['reason', 'idempotency_key'],
      CreateApiKey: ['name', 'reason', 'idempotency_key'],
      UpdateProject: ['name', 'reason', 'idempotency_key'],
      ListAuditLog: ['actor', 'action', 'target'],
      CreateCheckoutSession: ['idempotency_key'],
    };
    const controls = ['\u0000', '\u0007', '\n', '\u001b', '\u007f', '\u009b'];
    const plain = (field: string) => (field === 'idempotency_key' ? '' : `plain ${field}`);
    let tried = 0;
    for (const [name, call] of Object.entries(calls)) {
      for (const field of fields[name] ?? []) {
        for (const control of controls) {
          const before = await writeCounts();
          const text = (f: string) => (f === field ? `a${control}b` : plain(f));
          const label = `${name}.${field} with U+${control.charCodeAt(0).toString(16)}`;
          t.is(await codeOf(call(text)), Code.InvalidArgument, label);
          t.is(await writeCounts(), before, `${label} changed something`);
          tried += 1;
        }
      }
      // Without the control character the same call is not refused as invalid.
      t.not(await codeOf(call(plain)), Code.InvalidArgument, `${name} as written`);
    }
    t.true(tried >= 60, `${tried} calls`);
  },
);
