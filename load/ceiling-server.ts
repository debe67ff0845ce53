/**
 * The ceiling for benchmarks: the same server stack as the service (the
 * one-port listener, connect-es through createConnectHandler with the same
 * limits and shutdown signal) answering an RPC that does nothing
 * (grpc.health.v1.Health/Check, always SERVING, no authentication). What the
 * real service reaches is compared against this.
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
import { listen } from '../src/server/listener.js';

const port = Number(process.env.PORT ?? 0);
const shutdown = new AbortController();
const handler = createConnectHandler({
  routes: (router) =>
    router.service(Health, {
      check: () =>
        create(HealthCheckResponseSchema, { status: HealthCheckResponse_ServingStatus.SERVING }),
    }),
  interceptors: [],
  readMaxBytes: 1024 * 1024,
  shutdownSignal: shutdown.signal,
  fallback: (_req, res) => {
    res.writeHead(404);
    res.end();
  },
  logger: createLogger({ level: 'error' }),
});
const listener = await listen(handler, {
  host: '127.0.0.1',
  port,
  tls: undefined,
  timeouts: defaultHttpTimeouts,
});
process.stdout.write(`${JSON.stringify({ msg: 'listening', port: listener.port })}\n`);
process.once('SIGTERM', () => {
  shutdown.abort();
  listener.close(1000).then(() => process.exit(0));
});
