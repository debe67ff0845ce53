/**
 * Prometheus metrics. The registries are built by the composition root and
 * passed down (no prom-client default registry), so two instances in one
 * test process never share counters. Two of them: `registry` holds process
 * and service figures with no tenant in them (served on the public port too);
 * `tenantRegistry` holds anything labelled by project (MRR, subscriptions,
 * drift), served only by the metrics listener.
 */
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { RpcDurationHistogram } from './rpc-duration-histogram.js';

export interface ServiceMetrics {
  /** No tenant figures: safe for the public port. */
  readonly registry: Registry;
  /** Figures per project: only for the metrics listener. */
  readonly tenantRegistry: Registry;
  readonly rpcDuration: RpcDurationHistogram;
  readonly webhookEvents: Counter<'type' | 'outcome'>;
  readonly entitlementLookups: Counter<'result'>;
  /** One entitlement lookup answered from `result` (memory, redis, miss); cheap on every check. */
  readonly countLookup: (result: string) => void;
  readonly reconciliationDrift: Counter<'project' | 'class' | 'dry_run'>;
  readonly reconciliationDuration: Histogram<'outcome' | 'dry_run'>;
  readonly jobRuns: Counter<'job' | 'outcome'>;
  readonly jobDuration: Histogram<'job' | 'outcome'>;
  readonly meterEvents: Counter<'outcome'>;
  readonly meterEventsPending: Gauge<'state'>;
  readonly outboundEvents: Counter<'type' | 'outcome'>;
  readonly outboundAttempts: Counter<'outcome'>;
  readonly outboundAttemptDuration: Histogram<'outcome'>;
}

export function createServiceMetrics(): ServiceMetrics {
  const registry = new Registry();
  const tenantRegistry = new Registry();
  collectDefaultMetrics({ register: registry });
  const rpcDuration = new RpcDurationHistogram({
    name: 'rpc_server_duration_seconds',
    help: 'RPC handling time by method and gRPC status code (streams: until the handler returns the stream)',
    // Sub-millisecond buckets: entitlement checks are meant to be that fast.
    buckets: [
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
    ],
    registry,
  });
  const webhookEvents = new Counter({
    name: 'webhook_events_total',
    help: 'Stripe webhook events by type and outcome (processed, ignored, duplicate, busy, failed)',
    labelNames: ['type', 'outcome'] as const,
    registers: [registry],
  });
  // Counted in a Map on every check and added to the counter when scraped:
  // prom-client's inc() validates and hashes the labels on every call.
  const uncountedLookups = new Map<string, number>();
  const entitlementLookups = new Counter({
    name: 'entitlement_cache_lookups_total',
    help: 'Entitlement lookups by where the answer came from (memory, redis, miss = computed from MongoDB)',
    labelNames: ['result'] as const,
    registers: [registry],
    collect() {
      for (const [result, count] of uncountedLookups) this.inc({ result }, count);
      uncountedLookups.clear();
    },
  });
  const countLookup = (result: string) =>
    uncountedLookups.set(result, (uncountedLookups.get(result) ?? 0) + 1);
  const reconciliationDrift = new Counter({
    name: 'reconciliation_drift_total',
    help: 'Subscriptions found drifted by reconciliation, by project, class (missing_locally, stale, missing_in_stripe) and dry run',
    labelNames: ['project', 'class', 'dry_run'] as const,
    registers: [tenantRegistry],
  });
  const reconciliationDuration = new Histogram({
    name: 'reconciliation_duration_seconds',
    help: 'Reconciliation run time (one attempt: list Stripe, compare, repair) by outcome and dry run',
    labelNames: ['outcome', 'dry_run'] as const,
    buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
    registers: [registry],
  });
  const jobRuns = new Counter({
    name: 'agenda_job_runs_total',
    help: 'Agenda job runs by job and outcome (succeeded, failed, skipped = another replica had it, interrupted = shutdown)',
    labelNames: ['job', 'outcome'] as const,
    registers: [registry],
  });
  const jobDuration = new Histogram({
    name: 'agenda_job_duration_seconds',
    help: 'Agenda job handler time by job and outcome',
    labelNames: ['job', 'outcome'] as const,
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600],
    registers: [registry],
  });
  const meterEvents = new Counter({
    name: 'stripe_meter_events_total',
    help: 'Usage reported to Stripe meters by outcome (sent, duplicate = Stripe had it from an earlier send, failed = kept for a retry, skipped = customer not in Stripe)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const meterEventsPending = new Gauge({
    name: 'stripe_meter_events_pending',
    help: 'Meter events in the outbox after the last report run: all pending, and those failing (retried many times)',
    labelNames: ['state'] as const,
    registers: [registry],
  });
  const outboundEvents = new Counter({
    name: 'outbound_webhook_events_total',
    help: "Events for products' webhook endpoints by type and outcome (recorded = queued for at least one endpoint, failed = could not be recorded)",
    labelNames: ['type', 'outcome'] as const,
    registers: [registry],
  });
  const outboundAttempts = new Counter({
    name: 'outbound_webhook_attempts_total',
    help: "Delivery attempts to products' webhook endpoints by outcome (succeeded = 2xx, failed = retried later, given_up = its retry window ended)",
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const outboundAttemptDuration = new Histogram({
    name: 'outbound_webhook_attempt_duration_seconds',
    help: 'Time until an endpoint answered (or the attempt failed), by outcome',
    labelNames: ['outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  return {
    registry,
    tenantRegistry,
    rpcDuration,
    webhookEvents,
    entitlementLookups,
    countLookup,
    reconciliationDrift,
    reconciliationDuration,
    jobRuns,
    jobDuration,
    meterEvents,
    meterEventsPending,
    outboundEvents,
    outboundAttempts,
    outboundAttemptDuration,
  };
}

/** gRPC's canonical code names, as dashboards expect them (UNAUTHENTICATED). */
function grpcCodeName(code: Code): string {
  return (Code[code] ?? 'Unknown').replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();
}

export function createMetricsInterceptor(metrics: ServiceMetrics): Interceptor {
  // The label of each method, made once rather than on every call.
  const names = new WeakMap<object, string>();
  const nameOf = (service: { typeName: string }, method: { name: string }) => {
    let name = names.get(method);
    if (name === undefined) {
      name = `${service.typeName}/${method.name}`;
      names.set(method, name);
    }
    return name;
  };
  return (next) => async (req) => {
    const started = performance.now();
    const method = nameOf(req.service, req.method);
    try {
      const response = await next(req);
      metrics.rpcDuration.record(method, 'OK', (performance.now() - started) / 1000);
      return response;
    } catch (err) {
      const code = grpcCodeName(ConnectError.from(err).code);
      metrics.rpcDuration.record(method, code, (performance.now() - started) / 1000);
      throw err;
    }
  };
}

/** One project's business figures, as the gauges show them. */
export interface BusinessFigures {
  readonly projectId: string;
  readonly activeSubscriptions: number;
  readonly mrr: readonly { readonly currency: string; readonly amountMinor: bigint }[];
}

export interface BusinessGaugeOptions {
  /** Computes the figures of every project (reads MongoDB). */
  readonly figures: () => Promise<readonly BusinessFigures[]>;
  /** How long computed figures serve later scrapes before they are computed again. */
  readonly cacheMs: number;
  /** A failed computation: the gauges keep their last values. */
  readonly onError?: (err: unknown) => void;
  /** Milliseconds since the epoch. */
  readonly now?: () => number;
}

/**
 * The business gauges, per project: active subscriptions and MRR per
 * currency. They are computed when Prometheus scrapes (the gauges' `collect`
 * callbacks), not kept up to date on every webhook. Computing reads every
 * subscription of every project, so one computation serves every scrape for
 * `cacheMs` (several Prometheus servers, or a dashboard scraping often, do
 * not multiply the work), and concurrent scrapes share one computation. If
 * it fails (MongoDB down), the gauges keep their last values rather than
 * failing the whole scrape; `billing_business_metrics_computed_timestamp_seconds`
 * tells how old they are.
 */
export function registerBusinessGauges(registry: Registry, options: BusinessGaugeOptions): void {
  const latest = cachedFigures(options);
  new Gauge({
    name: 'billing_active_subscriptions',
    help: 'Subscriptions whose Stripe status is active, per project',
    labelNames: ['project'] as const,
    registers: [registry],
    async collect() {
      const figures = await latest();
      if (!figures) return;
      this.reset();
      for (const project of figures.values) {
        this.set({ project: project.projectId }, project.activeSubscriptions);
      }
    },
  });
  new Gauge({
    name: 'billing_mrr_minor_units',
    help: 'Monthly recurring revenue (active and past_due subscriptions, trials excluded) in the currency minor unit, per project and currency',
    labelNames: ['project', 'currency'] as const,
    registers: [registry],
    async collect() {
      const figures = await latest();
      if (!figures) return;
      this.reset();
      for (const project of figures.values) {
        for (const { currency, amountMinor } of project.mrr) {
          this.set({ project: project.projectId, currency }, Number(amountMinor));
        }
      }
    },
  });
  new Gauge({
    name: 'billing_business_metrics_computed_timestamp_seconds',
    help: 'When the business gauges (active subscriptions, MRR) were last computed (0: never)',
    registers: [registry],
    async collect() {
      const figures = await latest();
      if (figures) this.set(figures.computedAt / 1000);
    },
  });
}

interface ComputedFigures {
  readonly values: readonly BusinessFigures[];
  /** Milliseconds since the epoch. */
  readonly computedAt: number;
}

/** The newest figures, computed at most once per `cacheMs`; undefined until one computation succeeds. */
function cachedFigures(options: BusinessGaugeOptions): () => Promise<ComputedFigures | undefined> {
  const now = options.now ?? Date.now;
  let last: ComputedFigures | undefined;
  let running: Promise<ComputedFigures | undefined> | undefined;
  const compute = async (): Promise<ComputedFigures | undefined> => {
    try {
      const computedAt = now();
      last = { values: await options.figures(), computedAt };
    } catch (err) {
      options.onError?.(err);
    }
    return last;
  };
  return () => {
    if (last && now() - last.computedAt < options.cacheMs) return Promise.resolve(last);
    // Concurrent scrapes (and the gauges of one scrape) share one computation.
    running ??= compute().finally(() => {
      running = undefined;
    });
    return running;
  };
}
