/**
 * The time the service judges entitlements by: which billing period a usage
 * falls in, when a grant, credit lot or reservation has expired, how long a
 * subscription has been past_due, where a metrics window ends, and the
 * times recorded on grants, credits and audit entries. It is the wall clock,
 * except under `npm run start:local`, where it follows the Stripe sandbox's
 * test clock so that `advance 31d` moves the service's business time as
 * well as Stripe's (docs/sandbox.md, "The clock").
 *
 * Credentials and plumbing keep the wall clock whatever this says: API-key
 * and customer-token expiry, webhook signature tolerance, idempotency
 * records, job schedules, retries, timeouts and cache lifetimes in Redis.
 */
export interface BusinessClock {
  now(): Date;
  /**
   * Calls `listener` after business time jumped forward (a test clock was
   * advanced), so that whoever waits for a time to come (a watch stream
   * waiting for a grant's expiry) looks again at once.
   */
  onJump(listener: () => void): void;
}

/** Business time is real time; it never jumps. */
export function wallClock(): BusinessClock {
  return { now: () => new Date(), onJump: () => undefined };
}
