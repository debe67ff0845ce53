/**
 * When a subscription became past_due, from the versions of it that were
 * recorded (one per Stripe event second, see SubscriptionStore). Pure.
 *
 * Grace runs from the moment the payment failed (a renewal, a mid-cycle
 * upgrade invoice, a `send_invoice` invoice passing its due date), never
 * from the period start, and it does not restart while the subscription
 * stays past_due. Stripe tells that moment by the event that first shows
 * the subscription past_due, so the answer is the start of the newest
 * unbroken run of past_due seconds. It depends on the set of versions only,
 * never on the order they arrived in: the store keeps every past_due version
 * and the newest earlier one that was not (see `shouldPruneOlderVersions`).
 */
import { isNewerVersion, type VersionStamp } from './subscription-versions.js';

/** A version's status, with the stamp that orders it among the others. */
export interface StatusObservation extends VersionStamp {
  readonly status: string;
  /** On a fetched version: the statuses the events of its second showed. */
  readonly sameSecondStatuses: readonly string[];
}

const pastDue = 'past_due';

/** The start of the newest run of past_due seconds; null when the subscription is not past_due. */
export function pastDueSince(observations: readonly StatusObservation[]): Date | null {
  const seconds = bySecondNewestFirst(observations);
  const newest = seconds[0];
  if (newest === undefined || winnerOf(newest.observations).status !== pastDue) return null;
  let since = newest.second;
  for (const { second, observations: ofSecond } of seconds) {
    // Events of one second cannot be ordered: a second that also showed
    // another status may hold the run's beginning (when it is the newest),
    // but nothing before it belongs to the run.
    const mixed = eventStatuses(ofSecond).some((status) => status !== pastDue);
    if (mixed && second !== newest.second) break;
    since = second;
    if (mixed) break;
  }
  return new Date(since * 1000);
}

/**
 * Whether recording a version may delete the older ones. A past_due version
 * keeps them: the run it belongs to may have begun with an older version.
 * Any other status ends a run, so what came before it no longer matters.
 */
export function shouldPruneOlderVersions(status: string): boolean {
  return status !== pastDue;
}

function bySecondNewestFirst(observations: readonly StatusObservation[]) {
  const grouped = new Map<number, StatusObservation[]>();
  for (const observation of observations) {
    const group = grouped.get(observation.eventCreated);
    if (group) group.push(observation);
    else grouped.set(observation.eventCreated, [observation]);
  }
  return [...grouped.entries()]
    .sort(([a], [b]) => b - a)
    .map(([second, ofSecond]) => ({ second, observations: ofSecond }));
}

/** The state that wins a second: its newest version, the one fetched from Stripe if any. */
function winnerOf(ofSecond: readonly StatusObservation[]): StatusObservation {
  const [first, ...rest] = ofSecond;
  if (first === undefined) throw new RangeError('a second without observations');
  return rest.reduce((winner, o) => (isNewerVersion(o, winner) ? o : winner), first);
}

/** What the events of one second showed (a fetched version stands for them when it knows them). */
function eventStatuses(ofSecond: readonly StatusObservation[]): string[] {
  return ofSecond.flatMap((o) => {
    if (!o.fetchedFromStripe) return [o.status];
    return o.sameSecondStatuses.length > 0 ? o.sameSecondStatuses : [o.status];
  });
}
