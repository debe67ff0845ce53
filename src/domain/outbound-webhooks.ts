/**
 * Outbound webhooks: the events the service sends to products' endpoints,
 * how each is named, shaped and signed, and how a failed delivery is
 * retried. Pure (node:crypto only, for ids and signatures).
 *
 * Signing follows Stripe's scheme exactly, so a product verifies with
 * Stripe's own SDKs: `Billing-Signature: t=<unix seconds>,v1=<hex
 * HMAC-SHA256(secret, "<t>.<body>")>`. Every event has an id (`bev_...`)
 * that stays the same in every attempt and replay: receivers dedupe on it.
 * Events that can be found twice (a threshold crossed, a subscription going
 * past_due, a grant about to expire) take ids derived from what they are
 * about, so finding one again adds nothing.
 */
import { createHash, createHmac } from 'node:crypto';
import type { Entitlement, EntitlementSet } from './entitlements.js';
import type { CustomerFacts } from './timeline.js';

export const outboundEventTypes = [
  'entitlement.changed',
  'usage.threshold_reached',
  'subscription.past_due',
  'grant.expiring',
] as const;

export type OutboundEventType = (typeof outboundEventTypes)[number];

/** An endpoint's event types may be this alone: every type, also those added later. */
export const everyEventType = '*';

const knownTypes: ReadonlySet<string> = new Set([...outboundEventTypes, everyEventType]);

/** Why a list of event types is refused; undefined: it may be used. */
export function eventTypesRefusal(types: readonly string[]): string | undefined {
  if (types.length === 0) return `at least one event type is required (or ${everyEventType})`;
  const unknown = types.find((type) => !knownTypes.has(type));
  if (unknown !== undefined) {
    return `unknown event type ${JSON.stringify(unknown.slice(0, 64))}; known: ${outboundEventTypes.join(', ')}, ${everyEventType}`;
  }
  return undefined;
}

/** Sorted, without repeats; `*` alone when it is named. */
export function normalizedEventTypes(types: readonly string[]): string[] {
  if (types.includes(everyEventType)) return [everyEventType];
  return [...new Set(types)].sort();
}

export function endpointReceives(eventTypes: readonly string[], type: OutboundEventType): boolean {
  return eventTypes.includes(everyEventType) || eventTypes.includes(type);
}

/** An event as recorded, before it is sent to any endpoint. */
export interface OutboundEvent {
  readonly id: string;
  readonly type: OutboundEventType;
  readonly projectId: string;
  /** Null for events of no customer. */
  readonly customerId: string | null;
  readonly created: Date;
  /**
   * Orders a customer's events: the entitlement version for
   * `entitlement.changed`, else the time of recording in microseconds (the
   * same scale: versions are at least Redis's clock in microseconds).
   */
  readonly order: number;
  readonly data: Readonly<Record<string, unknown>>;
}

/** `bev_` and 32 hex characters derived from `parts` (the same parts give the same id). */
export function outboundEventId(...parts: readonly (string | number)[]): string {
  const digest = createHash('sha256').update(JSON.stringify(parts)).digest('hex');
  return `bev_${digest.slice(0, 32)}`;
}

export const eventIdPattern = /^bev_[0-9a-f]{32}$/;

/** What is POSTed, byte for byte: Stripe's event shape. */
export function eventBody(event: OutboundEvent): string {
  return JSON.stringify({
    id: event.id,
    object: 'event',
    type: event.type,
    created: Math.floor(event.created.getTime() / 1000),
    project_id: event.projectId,
    data: { object: event.data },
  });
}

/** The `Billing-Signature` header of `body` sent at `at`. */
export function signatureHeader(secret: string, body: string, at: Date): string {
  const timestamp = Math.floor(at.getTime() / 1000);
  const signature = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${signature}`;
}

/** A new endpoint's signing secret: shown once, then only stored sealed. */
export function newEndpointSecret(randomBytes: (size: number) => Buffer): string {
  return `whsec_${randomBytes(24).toString('hex')}`;
}

export interface WebhookRetryPolicy {
  /** The wait after the first failure; each further failure doubles it. */
  readonly baseMs: number;
  /** The longest wait between two attempts. */
  readonly maxMs: number;
  /** How long after its first attempt (or replay) a delivery is given up. */
  readonly retryForMs: number;
}

/**
 * When a delivery that has now failed `failures` times is tried again: the
 * doubling wait, of which a random half to all is taken (jitter, so that
 * many deliveries failing together do not all come back together).
 */
export function nextDeliveryAttemptAt(
  now: Date,
  failures: number,
  policy: WebhookRetryPolicy,
  random: () => number,
): Date {
  const doublings = Math.max(0, Math.min(failures - 1, 40));
  const ceilingMs = Math.min(policy.baseMs * 2 ** doublings, policy.maxMs);
  const waitMs = ceilingMs / 2 + (ceilingMs / 2) * Math.min(Math.max(random(), 0), 1);
  return new Date(now.getTime() + Math.round(waitMs));
}

/** The percentages of a period's allowance at which `usage.threshold_reached` is sent. */
export const usageThresholds = [80, 100] as const;

/**
 * The thresholds that a usage of `amount` took the period's usage across:
 * below before it, at or above after it. None without an allowance
 * (unlimited, or zero). Credits are not part of the allowance.
 */
export function thresholdsCrossed(
  usageAfter: number,
  amount: number,
  allowance: number | null,
): number[] {
  if (allowance === null || allowance <= 0 || amount <= 0) return [];
  const before = usageAfter - amount;
  return usageThresholds.filter(
    (percent) => before * 100 < percent * allowance && usageAfter * 100 >= percent * allowance,
  );
}

/** A subscription that went past_due: its id and when (the grace period's start). */
export interface PastDueStart {
  readonly subscriptionId: string;
  readonly since: Date;
}

/**
 * Subscriptions past_due after a change that were not, or not since the
 * same moment, before it (a new run of failed payments).
 */
export function pastDueStarts(before: CustomerFacts | null, after: CustomerFacts): PastDueStart[] {
  const was = new Map(
    (before?.subscriptions ?? []).map((s) => [s.id, pastDueMoment(s.status, s.pastDueSince)]),
  );
  const starts: PastDueStart[] = [];
  for (const subscription of after.subscriptions) {
    const since = pastDueMoment(subscription.status, subscription.pastDueSince);
    if (since === null || was.get(subscription.id) === since) continue;
    starts.push({ subscriptionId: subscription.id, since: new Date(since) });
  }
  return starts;
}

function pastDueMoment(status: string, since: Date | null): number | null {
  return status === 'past_due' && since !== null ? since.getTime() : null;
}

/** `entitlement.changed`'s data: the set after the change (balances are not pushed). */
export function entitlementChangedData(
  customerId: string,
  version: number,
  changedFeatures: readonly string[],
  cause: Readonly<{ kind: string; id: string }>,
  set: EntitlementSet,
): Record<string, unknown> {
  return {
    customer_id: customerId,
    version,
    changed_features: changedFeatures,
    cause,
    entitlements: set.entitlements.map(entitlementData),
    valid_until: isoOrNull(set.validUntil),
  };
}

function entitlementData(entitlement: Entitlement): Record<string, unknown> {
  return {
    feature: entitlement.feature,
    allowed: entitlement.allowed,
    limit: entitlement.limit,
    valid_until: isoOrNull(entitlement.validUntil),
    sources: entitlement.sources.map((source) => ({ kind: source.kind, id: source.id })),
  };
}

export function isoOrNull(time: Date | null): string | null {
  return time === null ? null : time.toISOString();
}
