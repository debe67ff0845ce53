/** When grace begins: the start of the newest run of past_due, from the set of versions. */
import test from 'ava';
import {
  pastDueSince,
  type StatusObservation,
  shouldPruneOlderVersions,
} from '../../src/domain/past-due.js';

const seen = (status: string, eventCreated: number): StatusObservation => ({
  status,
  eventCreated,
  fetchedFromStripe: false,
  sameSecondStatuses: [],
});

const fetched = (
  status: string,
  eventCreated: number,
  sameSecondStatuses: string[],
): StatusObservation => ({ status, eventCreated, fetchedFromStripe: true, sameSecondStatuses });

const at = (seconds: number) => new Date(seconds * 1000);

test('not past_due: no start', (t) => {
  t.is(pastDueSince([]), null);
  t.is(pastDueSince([seen('active', 100)]), null);
  t.is(pastDueSince([seen('past_due', 100), seen('active', 200)]), null);
  t.is(pastDueSince([seen('past_due', 100), seen('canceled', 200)]), null);
});

test('the first past_due event of the run starts it, not the newest one', (t) => {
  t.deepEqual(pastDueSince([seen('active', 100), seen('past_due', 200)]), at(200));
  t.deepEqual(
    pastDueSince([seen('active', 100), seen('past_due', 200), seen('past_due', 900)]),
    at(200),
    'a second failed payment while past_due does not restart the grace period',
  );
});

test('a run that ended and began again starts at the new beginning', (t) => {
  t.deepEqual(
    pastDueSince([
      seen('past_due', 100),
      seen('active', 200),
      seen('past_due', 300),
      seen('past_due', 400),
    ]),
    at(300),
  );
});

test('the answer is the same for every order of the same versions', (t) => {
  const history = [
    seen('active', 100),
    seen('past_due', 200),
    seen('past_due', 250),
    seen('active', 300),
    seen('past_due', 400),
    seen('past_due', 500),
  ];
  for (const order of permutations(history)) t.deepEqual(pastDueSince(order), at(400));
});

test('a second whose events disagreed on the status ends the run, but may begin it', (t) => {
  // Stripe was asked for that second: the run began within it.
  t.deepEqual(
    pastDueSince([
      seen('past_due', 100),
      seen('active', 200),
      fetched('past_due', 200, ['active', 'past_due']),
    ]),
    at(200),
  );
  // An older past_due second does not reach across a second that showed active.
  t.deepEqual(
    pastDueSince([
      seen('past_due', 100),
      seen('past_due', 200),
      fetched('past_due', 200, ['past_due', 'active']),
      seen('past_due', 300),
    ]),
    at(300),
  );
  // Events of one second that disagreed only in other fields keep the run going.
  t.deepEqual(
    pastDueSince([
      seen('past_due', 100),
      seen('past_due', 200),
      fetched('past_due', 200, ['past_due']),
    ]),
    at(100),
  );
});

test('a version fetched without events of its second (reconciliation) counts by its status', (t) => {
  t.deepEqual(pastDueSince([fetched('past_due', 100, []), seen('past_due', 200)]), at(100));
  t.is(pastDueSince([seen('past_due', 100), fetched('active', 200, [])]), null);
});

test('only a version that is not past_due prunes older versions', (t) => {
  t.false(shouldPruneOlderVersions('past_due'));
  for (const status of ['active', 'trialing', 'canceled', 'unpaid', 'incomplete']) {
    t.true(shouldPruneOlderVersions(status), status);
  }
});

function* permutations<T>(items: readonly T[]): Generator<T[]> {
  if (items.length <= 1) {
    yield [...items];
    return;
  }
  for (const [i, first] of items.entries()) {
    const rest = items.filter((_, j) => j !== i);
    for (const tail of permutations(rest)) yield [first, ...tail];
  }
}
