/**
 * What `npm run bench:usage` measures: a project whose catalog has a
 * boolean feature (`reports`) and a metered one (`api_requests`), customers
 * holding them by operator grants, and the ghz calls against them.
 */
import type { BenchProjectSpec } from './bench-project.js';
import type { GhzScenario } from './ghz.js';

/** The check scenarios' customer: both features, so the two checks differ only by feature. */
export const checkCustomer = 'check-user';
/** The one-customer TrackUsage scenario's customer: every call appends to one ledger chain. */
export const hotCustomer = 'usage-hot';
const spreadPrefix = 'usage-';
/** The n-th of the spread customers (n below the benchmark's customer count). */
export const spreadCustomer = (n: number) => `${spreadPrefix}${n}`;

/** Large enough that no run uses it up: a balance that covers every request. */
const allowance = 1_000_000_000;

export function benchUsageProject(customers: number): BenchProjectSpec {
  const metered = (customerId: string) => ({
    customerId,
    feature: 'api_requests',
    limit: allowance,
  });
  return {
    name: 'usage bench',
    stripeSecretKey: 'sk_test_usage_bench',
    webhookSigningSecret: 'whsec_usage_benchmark_secret',
    catalog: [
      {
        stripe_id: 'price_usage_bench',
        features: [
          { feature: 'reports', limit: null, limit_per_unit: false, kind: 'boolean' },
          {
            feature: 'api_requests',
            limit: null,
            limit_per_unit: false,
            kind: 'metered',
            metered: {
              allowance,
              allowance_per_unit: false,
              reset: 'billing_period',
              overage: 'block',
              stripe_meter_event_name: null,
            },
          },
        ],
      },
    ],
    grants: [
      { customerId: checkCustomer, feature: 'reports', limit: null },
      metered(checkCustomer),
      metered(hotCustomer),
      ...Array.from({ length: customers }, (_, n) => metered(spreadCustomer(n))),
    ],
  };
}

const check = 'billing.v1.EntitlementsService/CheckEntitlement';
const track = 'billing.v1.EntitlementsService/TrackUsage';

/** TrackUsage of 1 unit, never refused for balance, with a key no call used before. */
const trackData = (customerId: string) => ({
  customer_id: customerId,
  feature: 'api_requests',
  amount: '1',
  idempotency_key: '{{newUUID}}',
  enforce: false,
});

export function usageScenarios(customers: number): {
  readonly checks: GhzScenario[];
  readonly tracks: GhzScenario[];
} {
  return {
    checks: [
      {
        name: 'check-boolean-warm',
        description: 'CheckEntitlement of a boolean feature, cache warm (the reference for checks)',
        call: check,
        data: { customer_id: checkCustomer, feature: 'reports' },
      },
      {
        name: 'check-metered-warm',
        description: 'CheckEntitlement of a metered feature with requested_amount 5, cache warm',
        call: check,
        data: { customer_id: checkCustomer, feature: 'api_requests', requested_amount: '5' },
      },
    ],
    tracks: [
      {
        name: 'track-usage-one-customer',
        description: 'TrackUsage, one customer: every call appends to the same ledger chain',
        call: track,
        data: trackData(hotCustomer),
      },
      {
        name: 'track-usage-many-customers',
        description: `TrackUsage spread over ${customers} customers (the durable ack path)`,
        call: track,
        // ghz templates include sprig's functions (ghz v0.121): mod spreads the calls.
        data: trackData(`${spreadPrefix}{{mod .RequestNumber ${customers}}}`),
      },
    ],
  };
}
