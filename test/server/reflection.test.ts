import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import {
  create,
  createFileRegistry,
  fromBinary,
  type MessageInitShape,
  toBinary,
} from '@bufbuild/protobuf';
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
} from '@bufbuild/protobuf/wkt';
import {
  Code,
  type ConnectRouter,
  createClient,
  createRouterTransport,
  type Transport,
} from '@connectrpc/connect';
import { connectNodeAdapter, createGrpcTransport } from '@connectrpc/connect-node';
import test from 'ava';
import * as v1 from '../../gen/grpc/reflection/v1/reflection_pb.js';
import * as v1alpha from '../../gen/grpc/reflection/v1alpha/reflection_pb.js';
import { reflectionRoutes } from '../../src/server/reflection.js';

const descriptorSet = readFileSync(new URL('../../gen/descriptors.binpb', import.meta.url));

const serviceNames = [
  'billing.v1.EntitlementsService',
  'billing.v1.CheckoutService',
  'billing.v1.AdminService',
  'billing.v1.MetricsService',
  'grpc.health.v1.Health',
  'grpc.reflection.v1.ServerReflection',
  'grpc.reflection.v1alpha.ServerReflection',
];

const routes = reflectionRoutes({ descriptorSet, serviceNames });

// --- Transports: every test runs in memory and over a real HTTP/2 server. ---

type Routes = (router: ConnectRouter) => void;
type UseTransport = (transport: Transport) => Promise<void>;

const transportKinds: {
  name: string;
  run: (routes: Routes, use: UseTransport) => Promise<void>;
}[] = [
  { name: 'in-memory', run: (routes, use) => use(createRouterTransport(routes)) },
  { name: 'HTTP/2', run: withHttp2Server },
];

async function withHttp2Server(routes: Routes, use: UseTransport): Promise<void> {
  const server = http2.createServer(connectNodeAdapter({ routes }));
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

// --- Helpers ---

type Query = MessageInitShape<typeof v1.ServerReflectionRequestSchema>;

async function* streamOf<T>(items: readonly T[]): AsyncIterable<T> {
  yield* items;
}

/** Sends the queries on one v1 reflection stream and collects the answers. */
async function askV1(transport: Transport, ...queries: Query[]) {
  const client = createClient(v1.ServerReflection, transport);
  const responses: v1.ServerReflectionResponse[] = [];
  for await (const response of client.serverReflectionInfo(streamOf(queries))) {
    responses.push(response);
  }
  return responses;
}

/** The first answer to one query; fails the test if there is none. */
async function askOne(transport: Transport, query: Query): Promise<v1.ServerReflectionResponse> {
  const [response] = await askV1(transport, query);
  if (response === undefined) throw new Error('no response');
  return response;
}

function decodeFiles(response: v1.ServerReflectionResponse): FileDescriptorProto[] {
  if (response.messageResponse.case !== 'fileDescriptorResponse') {
    throw new Error(`expected files, got ${response.messageResponse.case}`);
  }
  return response.messageResponse.value.fileDescriptorProto.map((bytes) =>
    fromBinary(FileDescriptorProtoSchema, bytes),
  );
}

function symbolQuery(symbol: string): Query {
  return { messageRequest: { case: 'fileContainingSymbol', value: symbol } };
}

// --- Tests ---

for (const { name, run } of transportKinds) {
  test(`${name}: list_services returns exactly the given names`, (t) =>
    run(routes, async (transport) => {
      const response = await askOne(transport, {
        messageRequest: { case: 'listServices', value: '' },
      });
      t.is(response.messageResponse.case, 'listServicesResponse');
      const listed =
        response.messageResponse.case === 'listServicesResponse'
          ? response.messageResponse.value.service.map((service) => service.name)
          : [];
      t.deepEqual(listed, serviceNames);
    }));

  test(`${name}: a service's file comes with its imports and loads into a registry`, (t) =>
    run(routes, async (transport) => {
      const files = decodeFiles(
        await askOne(transport, symbolQuery('billing.v1.EntitlementsService')),
      );
      const names = files.map((file) => file.name);
      t.is(names[0], 'billing/v1/entitlements.proto', 'the requested file comes first');
      t.true(names.includes('google/protobuf/timestamp.proto'));
      t.true(names.includes('google/protobuf/duration.proto'));
      t.is(new Set(names).size, names.length, 'no file is sent twice');

      const [requested, ...imports] = files;
      if (requested === undefined) throw new Error('no file');
      const registry = createFileRegistry(requested, (fileName) =>
        imports.find((file) => file.name === fileName),
      );
      const service = registry.getService('billing.v1.EntitlementsService');
      const method = service?.methods.find((m) => m.name === 'CheckEntitlement');
      t.is(method?.input.typeName, 'billing.v1.CheckEntitlementRequest');
    }));

  test(`${name}: an unknown symbol is answered NOT_FOUND and the stream goes on`, (t) =>
    run(routes, async (transport) => {
      const [notFound, listed] = await askV1(transport, symbolQuery('billing.v1.NoSuchService'), {
        messageRequest: { case: 'listServices', value: '' },
      });
      t.is(notFound?.messageResponse.case, 'errorResponse');
      if (notFound?.messageResponse.case === 'errorResponse') {
        t.is(notFound.messageResponse.value.errorCode, Code.NotFound);
        t.is(notFound.messageResponse.value.errorCode, 5);
      }
      t.is(listed?.messageResponse.case, 'listServicesResponse');
    }));

  test(`${name}: every kind of symbol grpcurl asks for is found in its file`, (t) =>
    run(routes, async (transport) => {
      const expected: [symbol: string, file: string][] = [
        ['billing.v1.EntitlementsService.CheckEntitlement', 'billing/v1/entitlements.proto'],
        ['billing.v1.CheckEntitlementRequest', 'billing/v1/entitlements.proto'],
        ['billing.v1.CheckEntitlementRequest.customer_id', 'billing/v1/entitlements.proto'],
        ['billing.v1.EntitlementSourceKind', 'billing/v1/entitlements.proto'],
        ['billing.v1.ENTITLEMENT_SOURCE_KIND_GRANT', 'billing/v1/entitlements.proto'],
        ['billing.v1.AdminService', 'billing/v1/admin.proto'],
        ['google.protobuf.Timestamp', 'google/protobuf/timestamp.proto'],
        ['.google.protobuf.Duration', 'google/protobuf/duration.proto'],
        ['grpc.health.v1.HealthCheckResponse.ServingStatus', 'health/v1/health.proto'],
        ['grpc.health.v1.Health', 'health/v1/health.proto'],
        ['grpc.reflection.v1alpha.ServerReflection', 'grpc/reflection/v1alpha/reflection.proto'],
      ];
      const responses = await askV1(transport, ...expected.map(([symbol]) => symbolQuery(symbol)));
      t.deepEqual(
        responses.map((response) => decodeFiles(response)[0]?.name),
        expected.map(([, file]) => file),
      );
    }));

  test(`${name}: file_by_filename answers the file with its imports, or NOT_FOUND`, (t) =>
    run(routes, async (transport) => {
      const [admin, missing] = await askV1(
        transport,
        { messageRequest: { case: 'fileByFilename', value: 'billing/v1/admin.proto' } },
        { messageRequest: { case: 'fileByFilename', value: 'billing/v1/missing.proto' } },
      );
      if (admin === undefined) throw new Error('no response');
      t.deepEqual(
        decodeFiles(admin)
          .map((file) => file.name)
          .sort(),
        [
          'billing/v1/admin.proto',
          'billing/v1/webhook_endpoints.proto',
          'google/protobuf/duration.proto',
          'google/protobuf/timestamp.proto',
        ],
      );
      t.like(missing?.messageResponse, {
        case: 'errorResponse',
        value: { errorCode: Code.NotFound },
      });
    }));

  test(`${name}: host and the original request are echoed`, (t) =>
    run(routes, async (transport) => {
      const query: Query = { host: 'example', ...symbolQuery('google.protobuf.Duration') };
      const response = await askOne(transport, query);
      t.is(response.validHost, 'example');
      t.deepEqual(response.originalRequest?.messageRequest, query.messageRequest);
    }));

  test(`${name}: v1alpha answers the same questions`, (t) =>
    run(routes, async (transport) => {
      const client = createClient(v1alpha.ServerReflection, transport);
      const queries = streamOf([
        { messageRequest: { case: 'listServices' as const, value: '' } },
        {
          messageRequest: {
            case: 'fileContainingSymbol' as const,
            value: 'billing.v1.Entitlement',
          },
        },
        { messageRequest: { case: 'fileContainingSymbol' as const, value: 'nope.Nothing' } },
      ]);
      const cases: (string | undefined)[] = [];
      let firstFile = '';
      for await (const response of client.serverReflectionInfo(queries)) {
        cases.push(response.messageResponse.case);
        if (response.messageResponse.case === 'fileDescriptorResponse') {
          const [bytes] = response.messageResponse.value.fileDescriptorProto;
          firstFile = bytes ? fromBinary(FileDescriptorProtoSchema, bytes).name : '';
        }
        if (response.messageResponse.case === 'errorResponse') {
          t.is(response.messageResponse.value.errorCode, Code.NotFound);
        }
      }
      t.deepEqual(cases, ['listServicesResponse', 'fileDescriptorResponse', 'errorResponse']);
      t.is(firstFile, 'billing/v1/entitlements.proto');
    }));

  test(`${name}: extensions are found by extended type and number`, (t) =>
    run(
      reflectionRoutes({ descriptorSet: withExtensionFile(), serviceNames: [] }),
      async (transport) => {
        const [numbers, byNumber, unknownNumber, unknownType, bySymbol] = await askV1(
          transport,
          { messageRequest: { case: 'allExtensionNumbersOfType', value: 'ext.Base' } },
          {
            messageRequest: {
              case: 'fileContainingExtension',
              value: { containingType: 'ext.Base', extensionNumber: 101 },
            },
          },
          {
            messageRequest: {
              case: 'fileContainingExtension',
              value: { containingType: 'ext.Base', extensionNumber: 150 },
            },
          },
          { messageRequest: { case: 'allExtensionNumbersOfType', value: 'ext.Nothing' } },
          symbolQuery('ext.Holder.extra_two'),
        );
        t.deepEqual(numbers?.messageResponse.value, {
          $typeName: 'grpc.reflection.v1.ExtensionNumberResponse',
          baseTypeName: 'ext.Base',
          extensionNumber: [100, 101],
        });
        if (byNumber === undefined || bySymbol === undefined) throw new Error('no response');
        t.deepEqual(
          decodeFiles(byNumber).map((file) => file.name),
          ['ext/extra.proto', 'ext/base.proto'],
        );
        t.is(decodeFiles(bySymbol)[0]?.name, 'ext/extra.proto');
        t.is(unknownNumber?.messageResponse.case, 'errorResponse');
        t.is(unknownType?.messageResponse.case, 'errorResponse');
      },
    ));
}

test('a request without a query is answered INVALID_ARGUMENT', async (t) => {
  const response = await askOne(createRouterTransport(routes), {});
  t.like(response.messageResponse, {
    case: 'errorResponse',
    value: { errorCode: Code.InvalidArgument },
  });
});

test('a service name missing from the descriptor set is refused at once', (t) => {
  t.throws(() => reflectionRoutes({ descriptorSet, serviceNames: ['billing.v1.Missing'] }), {
    message: /billing\.v1\.Missing/,
  });
});

/**
 * A small proto2 descriptor set with extensions: ext/base.proto declares
 * message ext.Base; ext/extra.proto extends it with field 100 (top level) and
 * field 101 (nested in message ext.Holder).
 */
function withExtensionFile(): Uint8Array {
  const extension = (name: string, number: number) => ({
    name,
    number,
    extendee: '.ext.Base',
    label: FieldDescriptorProto_Label.OPTIONAL,
    type: FieldDescriptorProto_Type.STRING,
  });
  const set = create(FileDescriptorSetSchema, {
    file: [
      {
        name: 'ext/base.proto',
        package: 'ext',
        syntax: 'proto2',
        messageType: [{ name: 'Base', extensionRange: [{ start: 100, end: 200 }] }],
      },
      {
        name: 'ext/extra.proto',
        package: 'ext',
        syntax: 'proto2',
        dependency: ['ext/base.proto'],
        extension: [extension('extra_one', 100)],
        messageType: [{ name: 'Holder', extension: [extension('extra_two', 101)] }],
      },
    ],
  });
  return toBinary(FileDescriptorSetSchema, set);
}
