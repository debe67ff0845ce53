/** What reservation-crash.test.ts and its dying child process share. */
import type { ChainTerms } from '../../src/domain/usage-allocation.js';
import type { ReservationService } from '../../src/services/reservation-service.js';

export type CrashStep = 'reserve' | 'commit' | 'release';

export const crashChain = { projectId: 'p1', customerId: 'c1', feature: 'api_requests' };

export interface CrashRequest {
  /** The clock of the call, ms. */
  readonly now: number;
  readonly key: string;
  readonly amount: number;
  readonly reservationId?: string;
}

const day = 24 * 3600 * 1000;

export const crashTerms = (now: number): ChainTerms => ({
  allowance: 100,
  lots: [],
  now: new Date(now),
});

/** Runs `step` as UsageService would with these terms; answers what the service answers. */
export async function runCrashStep(
  reservations: ReservationService,
  step: CrashStep,
  request: CrashRequest,
): Promise<string> {
  const terms = crashTerms(request.now);
  if (step === 'reserve') {
    const held = await reservations.hold({
      chain: crashChain,
      terms,
      amount: request.amount,
      periodEnd: new Date(request.now + day),
      expiresAt: new Date(request.now + 60_000),
      idempotencyKey: request.key,
      refuseOverage: true,
      fingerprint: JSON.stringify(['reserve', request.amount]),
    });
    return held.reservationId;
  }
  const found = await reservations.find(
    crashChain.projectId,
    crashChain.customerId,
    request.reservationId ?? '',
    [crashChain.feature],
  );
  if (step === 'release') {
    await reservations.release(found, terms);
    return '';
  }
  const committed = await reservations.commit(found, {
    terms,
    finalAmount: request.amount,
    refuseOverHeld: true,
  });
  return committed.usageId;
}

/** The child's entry: the request as JSON. */
export function crashStepRequest(
  reservations: ReservationService,
  step: CrashStep,
  json: string,
): Promise<string> {
  return runCrashStep(reservations, step, JSON.parse(json) as CrashRequest);
}
