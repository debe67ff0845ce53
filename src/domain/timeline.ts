/**
 * A customer's timeline: why and how the set of entitlements changed. Each
 * stored entry keeps the engine's facts about the customer (subscriptions,
 * purchases, grants, credit lots) before and after the change, so the
 * answer at any past instant is the engine run on the facts of that instant
 * (and the catalog of that instant) with `now` set to it. What changes with
 * time alone (an expiry, a metered reset) is not stored: it follows from
 * the facts, and `timeDrivenSteps` finds it. Pure.
 */
import type { CreditLotFacts } from './credits.js';
import type {
  Entitlement,
  EntitlementInputs,
  EntitlementSet,
  GrantFacts,
  PurchaseFacts,
  SubscriptionFacts,
} from './entitlements.js';

/** What made a stored entry. */
export type TimelineCause =
  | { readonly kind: 'stripe_event'; readonly eventId: string; readonly eventType: string }
  | {
      readonly kind: 'grant' | 'revoke' | 'credit_grant' | 'credit_revoke';
      readonly id: string;
      readonly actor: string;
      readonly reason: string;
    }
  | { readonly kind: 'reconciliation'; readonly runId: string };

/** What made a project entry (it changes every customer's set). */
export interface ProjectTimelineCause {
  readonly kind: 'catalog' | 'grace_period';
  readonly actor: string;
  readonly reason: string;
}

/** Kinds of entries a timeline shows: the causes, and what time alone does. */
export type TimelineEntryKind =
  | TimelineCause['kind']
  | ProjectTimelineCause['kind']
  | 'expiry'
  | 'usage_reset';

/** The engine's facts about one customer. */
export interface CustomerFacts {
  readonly subscriptions: readonly SubscriptionFacts[];
  readonly purchases: readonly PurchaseFacts[];
  readonly grants: readonly GrantFacts[];
  readonly credits: readonly CreditLotFacts[];
}

/** The project's side of the engine's inputs. */
export interface ProjectTerms {
  readonly catalog: EntitlementInputs['catalog'];
  readonly gracePeriodSeconds: number;
}

export const noFacts: CustomerFacts = { subscriptions: [], purchases: [], grants: [], credits: [] };

export function factsOf(inputs: EntitlementInputs): CustomerFacts {
  const { subscriptions, purchases, grants, credits } = inputs;
  return { subscriptions, purchases, grants, credits };
}

export function inputsAt(facts: CustomerFacts, terms: ProjectTerms, now: Date): EntitlementInputs {
  return { ...terms, ...facts, now };
}

/**
 * The features whose answer differs between two sets: allowed, limit,
 * metered balance or reset. Sorted.
 */
export function changedFeatures(before: EntitlementSet | null, after: EntitlementSet): string[] {
  const was = new Map((before?.entitlements ?? []).map((e) => [e.feature, answerOf(e)]));
  const is = new Map(after.entitlements.map((e) => [e.feature, answerOf(e)]));
  const features = new Set([...was.keys(), ...is.keys()]);
  return [...features].filter((f) => was.get(f) !== is.get(f)).sort();
}

function answerOf(entitlement: Entitlement): string {
  const metered = entitlement.metered;
  return JSON.stringify([
    entitlement.limit,
    metered?.balance ?? null,
    metered?.resetsAt.getTime() ?? null,
  ]);
}

/** A change that time alone made, between stored entries. */
export interface TimeDrivenStep {
  readonly at: Date;
  readonly kind: 'expiry' | 'usage_reset';
  readonly before: EntitlementSet;
  readonly after: EntitlementSet;
  readonly changed: readonly string[];
}

/**
 * Every change of the set that time alone makes after `from`, up to and
 * including `until`, at most `max`: the set's valid_until is exactly the
 * next such instant. An expiry when a feature stops being allowed or its
 * limit changes, else a reset of a metered period.
 */
export function timeDrivenSteps(
  setAt: (now: Date) => EntitlementSet,
  from: Date,
  until: Date,
  max: number,
): TimeDrivenStep[] {
  const steps: TimeDrivenStep[] = [];
  let before = setAt(from);
  while (steps.length < max && before.validUntil && before.validUntil <= until) {
    const at = before.validUntil;
    const after = setAt(at);
    const changed = changedFeatures(before, after);
    if (changed.length > 0)
      steps.push({ at, kind: kindOf(before, after, changed), before, after, changed });
    if (after.validUntil !== null && after.validUntil <= at) break; // no progress: stop
    before = after;
  }
  return steps;
}

function kindOf(
  before: EntitlementSet,
  after: EntitlementSet,
  changed: readonly string[],
): TimeDrivenStep['kind'] {
  const allowedAfter = new Map(after.entitlements.map((e) => [e.feature, e]));
  const expired = changed.some((feature) => {
    const was = before.entitlements.find((e) => e.feature === feature);
    const is = allowedAfter.get(feature);
    return was !== undefined && (is === undefined || is.limit !== was.limit);
  });
  return expired ? 'expiry' : 'usage_reset';
}
