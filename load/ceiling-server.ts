/**
 * The ceiling for benchmarks: the same server framework (connect-node), the
 * same one-port listener, the same interceptor count, answering an RPC that
 * does nothing (grpc.health.v1.Health/Check, always SERVING). What the real
 * service reaches is compared against this.
 */
import { create } from '@bufbuild/protobuf';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import {
  Health,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from '../gen/health/v1/health_pb.js';
import { listen } from '../src/server/listener.js';

const port = Number(process.env.PORT ?? 0);
const handler = connectNodeAdapter({
  routes: (router) =>
    router.service(Health, {
      check: () =>
        create(HealthCheckResponseSchema, { status: HealthCheckResponse_ServingStatus.SERVING }),
    }),
});
const listener = await listen(handler, { host: '127.0.0.1', port, tls: undefined });
process.stdout.write(`${JSON.stringify({ msg: 'listening', port: listener.port })}\n`);
process.once('SIGTERM', () => {
  listener.close(1000).then(() => process.exit(0));
});
