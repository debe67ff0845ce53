/**
 * The public port (Connect, gRPC, gRPC-Web and plain HTTP on one listener)
 * and the metrics port, over the services.
 */
import { readFileSync } from 'node:fs';
import type { ConnectRouter } from '@connectrpc/connect';
import { Registry } from 'prom-client';
import {
  authenticateCredentials,
  type CredentialOptions,
  createAuthInterceptor,
  ofrepProcedure,
} from '../api/auth.js';
import { createErrorInterceptor } from '../api/errors.js';
import { answerOfrep } from '../api/ofrep.js';
import { billingRoutes, billingServices } from '../api/routes.js';
import { requiredScope } from '../api/scopes.js';
import type { Config } from '../config.js';
import { createConsoleRoutes } from '../console/serve.js';
import { createDemoRoutes } from '../demo/serve.js';
import type { Logger } from '../logger.js';
import { createConnectHandler } from '../server/connect-handler.js';
import { withCors } from '../server/cors.js';
import { createGrpcStreams } from '../server/grpc-streams.js';
import { healthRoutes } from '../server/health.js';
import { createHttpRoutes, type ReadinessReport } from '../server/http-routes.js';
import { type Listener, listen } from '../server/listener.js';
import { listenMetrics, type MetricsListener } from '../server/metrics-listener.js';
import { createOfrepRoute, type OfrepAnswerer } from '../server/ofrep-route.js';
import { createMetricsInterceptor, type ServiceMetrics } from '../server/prometheus-metrics.js';
import { recordRoutes } from '../server/recorded-routes.js';
import { reflectionRoutes } from '../server/reflection.js';
import { createWebhookRoute } from '../server/webhook-route.js';
import { createWebhookShim } from '../stripe/webhook-shim.js';
import type { Services } from './services.js';
import type { Stores } from './stores.js';

export interface ServerDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly stores: Stores;
  readonly services: Services;
  readonly metrics: ServiceMetrics;
  readonly readiness: () => Promise<ReadinessReport>;
  /** Aborted at shutdown: streams end, health answers NOT_SERVING. */
  readonly shutdownSignal: AbortSignal;
}

export function startServer(deps: ServerDeps): Promise<Listener> {
  const { config, logger, services } = deps;
  // One route table and one interceptor chain for every protocol.
  const routes = recordRoutes(rpcRoutes(deps));
  const credentials: CredentialOptions = {
    authenticator: services.authenticator,
    customerTokenSecrets: config.customerTokenSecrets,
    tokenIssuers: services.tokenIssuers,
  };
  const interceptors = [
    createMetricsInterceptor(deps.metrics),
    createErrorInterceptor(logger),
    createAuthInterceptor({ ...credentials, requiredScope }),
  ];
  const limits = { readMaxBytes: config.maxRequestBytes, shutdownSignal: deps.shutdownSignal };
  const handler = createConnectHandler({
    routes: routes.register,
    logger,
    interceptors,
    ...limits,
    fallback: createHttpRoutes({
      readiness: deps.readiness,
      registry: deps.metrics.registry,
      isShuttingDown: () => deps.shutdownSignal.aborted,
      stripeWebhook: createWebhookRoute(webhookShim(deps), config.webhookMaxBodyBytes),
      ofrep: createOfrepRoute(ofrepAnswerer(services, credentials), config.maxRequestBytes),
      pages: { ...createDemoRoutes(logger), ...createConsoleRoutes(logger) },
      logger,
    }),
  });
  return listen(withCors(handler, config.corsAllowedOrigins), {
    host: config.host,
    port: config.port,
    tls: config.tls,
    timeouts: config.httpTimeouts,
    streams: createGrpcStreams({ routes, interceptors, logger, ...limits }),
  });
}

function rpcRoutes({ config, logger, stores, services, readiness, shutdownSignal }: ServerDeps) {
  const serviceNames = billingServices.map((service) => service.typeName);
  const servedNames = [
    ...serviceNames,
    'grpc.health.v1.Health',
    'grpc.reflection.v1.ServerReflection',
    'grpc.reflection.v1alpha.ServerReflection',
  ];
  return (router: ConnectRouter) => {
    billingRoutes({
      ...services,
      auditLog: stores.auditLog,
      customers: stores.customers,
      idempotency: stores.idempotency,
      customerTokenSecrets: config.customerTokenSecrets,
      logger,
      now: () => services.clock.now(),
    })(router);
    healthRoutes({
      checkReady: async () => (await readiness()).ready,
      serviceNames,
      shutdownSignal,
    })(router);
    reflectionRoutes({ descriptorSet: readDescriptorSet(), serviceNames: servedNames })(router);
  };
}

function ofrepAnswerer(services: Services, credentials: CredentialOptions): OfrepAnswerer {
  const authenticate = (token: string) =>
    authenticateCredentials(token, ofrepProcedure, credentials);
  return (call) => answerOfrep(call, { entitlements: services.entitlements, authenticate });
}

function webhookShim({ logger, stores, services }: ServerDeps) {
  return createWebhookShim({
    projects: services.projectCache,
    stripeClients: services.stripeClients,
    processor: services.processor,
    customers: stores.customers,
    subscriptions: stores.subscriptions,
    purchases: stores.purchases,
    logger,
    now: () => services.clock.now(),
  });
}

/** Every figure, tenants' included, on its own port (loopback by default); none when off. */
export function startMetricsListener(
  config: Config,
  metrics: ServiceMetrics,
  logger: Logger,
): Promise<MetricsListener | undefined> {
  if (config.metricsPort === undefined) return Promise.resolve(undefined);
  return listenMetrics({
    host: config.metricsHost,
    port: config.metricsPort,
    registry: Registry.merge([metrics.registry, metrics.tenantRegistry]),
    timeouts: config.httpTimeouts,
    onError: (error) => logger.warn('metrics scrape failed', { error }),
  });
}

function readDescriptorSet(): Uint8Array {
  return readFileSync(new URL('../../gen/descriptors.binpb', import.meta.url));
}
