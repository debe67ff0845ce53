/**
 * The @grpc/grpc-js reference for benchmarks (the best Node gRPC stack):
 * grpc.health.v1.Health/Check, always SERVING, with the same protobuf-es
 * encoding as the service. Prints the "listening" line server-process.ts waits for.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import {
  type HealthCheckRequest,
  HealthCheckRequestSchema,
  type HealthCheckResponse,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from '../gen/health/v1/health_pb.js';

const serving = create(HealthCheckResponseSchema, {
  status: HealthCheckResponse_ServingStatus.SERVING,
});
const definition: grpc.ServiceDefinition = {
  check: {
    path: '/grpc.health.v1.Health/Check',
    requestStream: false,
    responseStream: false,
    requestSerialize: (value: HealthCheckRequest) =>
      Buffer.from(toBinary(HealthCheckRequestSchema, value)),
    requestDeserialize: (bytes: Buffer) => fromBinary(HealthCheckRequestSchema, bytes),
    responseSerialize: (value: HealthCheckResponse) =>
      Buffer.from(toBinary(HealthCheckResponseSchema, value)),
    responseDeserialize: (bytes: Buffer) => fromBinary(HealthCheckResponseSchema, bytes),
  },
};
const check: grpc.handleUnaryCall<HealthCheckRequest, HealthCheckResponse> = (_call, callback) =>
  callback(null, serving);

const server = new grpc.Server();
server.addService(definition, { check });
server.bindAsync(
  `127.0.0.1:${process.env.PORT ?? 0}`,
  grpc.ServerCredentials.createInsecure(),
  (err, port) => {
    if (err) throw err;
    process.stdout.write(`${JSON.stringify({ msg: 'listening', port })}\n`);
  },
);
process.once('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
