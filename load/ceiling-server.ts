/**
 * The ceiling for benchmarks: the same server stack as the service (the
 * one-port listener, the native gRPC path in front of connect-es, the same
 * limits and shutdown signal) answering an RPC that does nothing
 * (grpc.health.v1.Health/Check, always SERVING, no authentication).
 * CEILING_STACK=connect leaves the native path out (every call through
 * connect-node), to measure what it costs.
 */
import { create } from '@bufbuild/protobuf';
import {
  Health,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from '../gen/health/v1/health_pb.js';
import { defaultHttpTimeouts } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { createConnectHandler } from '../src/server/connect-handler.js';
import { createGrpcStreams } from '../src/server/grpc-streams.js';
import { listen } from '../src/server/listener.js';
import { recordRoutes } from '../src/server/recorded-routes.js';

const port = Number(process.env.PORT ?? 0);
const shutdown = new AbortController();
const logger = createLogger({ level: 'error' });
const routes = recordRoutes((router) =>
  router.service(Health, {
    check: () =>
      create(HealthCheckResponseSchema, { status: HealthCheckResponse_ServingStatus.SERVING }),
  }),
);
const limits = { readMaxBytes: 1024 * 1024, shutdownSignal: shutdown.signal };
const handler = createConnectHandler({
  routes: routes.register,
  interceptors: [],
  ...limits,
  fallback: (_req, res) => {
    res.writeHead(404);
    res.end();
  },
  logger,
});
const native = process.env.CEILING_STACK !== 'connect';
const listener = await listen(handler, {
  host: '127.0.0.1',
  port,
  tls: undefined,
  timeouts: defaultHttpTimeouts,
  streams: native ? createGrpcStreams({ routes, interceptors: [], logger, ...limits }) : undefined,
});
process.stdout.write(`${JSON.stringify({ msg: 'listening', port: listener.port })}\n`);
process.once('SIGTERM', () => {
  shutdown.abort();
  listener.close(1000).then(() => process.exit(0));
});
