/** Validation of ReserveUsage, CommitReservation and ReleaseReservation requests. */
import type {
  CommitReservationRequest,
  ReleaseReservationRequest,
  ReserveUsageRequest,
} from '../../gen/billing/v1/entitlements_pb.js';
import type {
  CommitReservationInput,
  ReservationRef,
  ReserveUsageInput,
} from '../services/usage-service.js';
import { maxAmount, requireUsageIdempotencyKey } from './usage-requests.js';
import { invalid, requireCustomerId, requireFeature, wholeSeconds } from './validate.js';

const defaultTtlSeconds = 5 * 60;
const maxTtlSeconds = 24 * 3600;
/** What ReserveUsage makes: rsv_ and a UUID without dashes. */
const reservationIdPattern = /^rsv_[0-9a-f]{32}$/;

export function reserveUsageInput(req: ReserveUsageRequest, projectId: string): ReserveUsageInput {
  const customerId = requireCustomerId(req.customerId);
  const feature = requireFeature('feature', req.feature);
  if (req.amount < 1n || req.amount > maxAmount) {
    throw invalid('amount', `must be between 1 and ${maxAmount}`);
  }
  return {
    projectId,
    customerId,
    feature,
    amount: Number(req.amount),
    ttlMs: wholeSeconds('ttl', req.ttl, defaultTtlSeconds, maxTtlSeconds) * 1000,
    idempotencyKey: requireUsageIdempotencyKey(req.idempotencyKey),
  };
}

export function commitReservationInput(
  req: CommitReservationRequest,
  projectId: string,
): CommitReservationInput {
  const ref = reservationRef(req, projectId);
  const finalAmount = req.finalAmount;
  if (finalAmount !== undefined && (finalAmount < 0n || finalAmount > maxAmount)) {
    throw invalid('final_amount', `must be between 0 and the amount held`);
  }
  return { ...ref, finalAmount: finalAmount === undefined ? undefined : Number(finalAmount) };
}

export function releaseReservationInput(
  req: ReleaseReservationRequest,
  projectId: string,
): ReservationRef {
  return reservationRef(req, projectId);
}

function reservationRef(
  req: { readonly customerId: string; readonly reservationId: string },
  projectId: string,
): ReservationRef {
  const customerId = requireCustomerId(req.customerId);
  if (req.reservationId === '') throw invalid('reservation_id', 'is required');
  if (!reservationIdPattern.test(req.reservationId)) {
    throw invalid('reservation_id', 'is not a reservation id (rsv_...)');
  }
  return { projectId, customerId, reservationId: req.reservationId };
}
