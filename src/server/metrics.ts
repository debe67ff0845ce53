/**
 * Prometheus metrics. The registry is built by the composition root and
 * passed down (no prom-client default registry), so two instances in one
 * test process never share counters.
 */
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

export interface ServiceMetrics {
  readonly registry: Registry;
  readonly rpcDuration: Histogram<'method' | 'code'>;
  readonly webhookEvents: Counter<'type' | 'outcome'>;
  readonly entitlementLookups: Counter<'result'>;
}

export function createServiceMetrics(): ServiceMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const rpcDuration = new Histogram({
    name: 'rpc_server_duration_seconds',
    help: 'RPC handling time by method and gRPC status code (streams: until the handler returns the stream)',
    labelNames: ['method', 'code'] as const,
    // Sub-millisecond buckets: entitlement checks are meant to be that fast.
    buckets: [
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
    ],
    registers: [registry],
  });
  const webhookEvents = new Counter({
    name: 'webhook_events_total',
    help: 'Stripe webhook events by type and outcome (processed, ignored, duplicate, busy, failed)',
    labelNames: ['type', 'outcome'] as const,
    registers: [registry],
  });
  const entitlementLookups = new Counter({
    name: 'entitlement_cache_lookups_total',
    help: 'Entitlement lookups by where the answer came from (memory, redis, miss = computed from MongoDB)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  return { registry, rpcDuration, webhookEvents, entitlementLookups };
}

/** gRPC's canonical code names, as dashboards expect them (UNAUTHENTICATED). */
export function grpcCodeName(code: Code): string {
  return (Code[code] ?? 'Unknown').replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();
}

export function createMetricsInterceptor(metrics: ServiceMetrics): Interceptor {
  return (next) => async (req) => {
    const stopTimer = metrics.rpcDuration.startTimer({
      method: `${req.service.typeName}/${req.method.name}`,
    });
    try {
      const response = await next(req);
      stopTimer({ code: 'OK' });
      return response;
    } catch (err) {
      stopTimer({ code: grpcCodeName(ConnectError.from(err).code) });
      throw err;
    }
  };
}
