/** Validation of TrackUsage requests (the rules are in the proto's field comments and docs/api.md). */
import type { TrackUsageRequest } from '../../gen/billing/v1/entitlements_pb.js';
import { usageLookbackMs } from '../domain/usage-allocation.js';
import type { TrackUsageInput } from '../services/usage-service.js';
import { invalid, optionalTimestamp, requireCustomerId, requireFeature } from './validate.js';

export const maxAmount = 1_000_000_000n;
const maxIdempotencyKeyLength = 128;
/** Clocks drift; usage from further ahead is a caller's bug, not a usage. */
const maxFutureMs = 5 * 60 * 1000;
const printable = /^[\u0020-\u007e]+$/;

export function trackUsageInput(
  req: TrackUsageRequest,
  projectId: string,
  now: Date,
): TrackUsageInput {
  const customerId = requireCustomerId(req.customerId);
  const feature = requireFeature('feature', req.feature);
  if (req.amount < 1n || req.amount > maxAmount) {
    throw invalid('amount', `must be between 1 and ${maxAmount}`);
  }
  const occurredAt = optionalTimestamp('occurred_at', req.occurredAt);
  if (occurredAt && occurredAt.getTime() > now.getTime() + maxFutureMs) {
    throw invalid('occurred_at', 'must be at most 5 minutes ahead');
  }
  // Stripe's meter events accept 35 days back; the ledger keeps periods as long.
  if (occurredAt && occurredAt.getTime() < now.getTime() - usageLookbackMs) {
    throw invalid('occurred_at', 'must be at most 35 days in the past');
  }
  return {
    projectId,
    customerId,
    feature,
    amount: Number(req.amount),
    idempotencyKey: requireUsageIdempotencyKey(req.idempotencyKey),
    occurredAt,
    enforce: req.enforce,
  };
}

export function requireUsageIdempotencyKey(value: string): string {
  if (value === '') throw invalid('idempotency_key', 'is required');
  if (value.length > maxIdempotencyKeyLength) {
    throw invalid('idempotency_key', `must be at most ${maxIdempotencyKeyLength} characters`);
  }
  if (!printable.test(value)) throw invalid('idempotency_key', 'must be printable ASCII');
  return value;
}

/** CheckEntitlement's requested_amount: absent means 1. */
export function requestedAmount(value: bigint | undefined): number {
  if (value === undefined) return 1;
  if (value < 1n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw invalid('requested_amount', `must be between 1 and ${Number.MAX_SAFE_INTEGER}`);
  }
  return Number(value);
}
