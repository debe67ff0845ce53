/** The pure checks behind the webhook shim's 400s and its give-up rule. */
import test from 'ava';
import { MongoNetworkError, MongoServerError } from 'mongodb';
import { isDependencyDown } from '../../src/failure-classification.js';
import { futureTimeReason, notAnEventReason } from '../../src/stripe/event-shape.js';

const event = {
  id: 'evt_1',
  type: 'invoice.paid',
  created: 1_800_000_000,
  data: { object: { id: 'in_1' } },
};

test('an event passes; anything missing a part of one is named', (t) => {
  t.is(notAnEventReason(event), undefined);
  t.regex(notAnEventReason([]) ?? '', /not a JSON object/);
  t.regex(notAnEventReason({ ...event, id: 'evt 1' }) ?? '', /^id/);
  t.regex(notAnEventReason({ ...event, type: 7 }) ?? '', /^type/);
  t.regex(notAnEventReason({ ...event, created: 1.5 }) ?? '', /^created/);
  t.regex(notAnEventReason({ ...event, data: { object: null } }) ?? '', /data\.object/);
});

test('a signed or event time beyond the tolerance ahead is refused; skew within it is not', (t) => {
  const time = new Date(1_800_000_000_000);
  const now = { wall: time, business: time };
  const header = (seconds: number) => `t=${seconds},v1=abc`;
  t.is(futureTimeReason(event, header(1_800_000_300), now, 300), undefined);
  t.regex(futureTimeReason(event, header(1_800_000_301), now, 300) ?? '', /signature/);
  t.regex(
    futureTimeReason({ created: 1_800_000_301 }, header(1_800_000_000), now, 300) ?? '',
    /event time/,
  );
  t.regex(futureTimeReason(event, 'v1=abc', now, 300) ?? '', /signature/);
});

test('under a test clock the event time is judged by business time, the signature by the wall clock', (t) => {
  const wall = new Date(1_800_000_000_000);
  const business = new Date(wall.getTime() + 31 * 86_400_000);
  const now = { wall, business };
  const aMonthAhead = 1_800_000_000 + 31 * 86_400;
  const header = (seconds: number) => `t=${seconds},v1=abc`;
  t.is(futureTimeReason({ created: aMonthAhead }, header(1_800_000_000), now, 300), undefined);
  t.regex(
    futureTimeReason({ created: aMonthAhead + 301 }, header(1_800_000_000), now, 300) ?? '',
    /event time/,
  );
  t.regex(
    futureTimeReason({ created: aMonthAhead }, header(aMonthAhead), now, 300) ?? '',
    /signature/,
  );
});

test('a dependency down is told apart from a failure that repeats', (t) => {
  t.true(isDependencyDown({ type: 'StripeConnectionError' }));
  t.true(isDependencyDown({ type: 'StripeAPIError' }));
  t.true(isDependencyDown(new MongoNetworkError('gone')));
  t.true(isDependencyDown(new Error('wrapped', { cause: { code: 'ECONNREFUSED' } })));
  t.false(isDependencyDown(new TypeError("Cannot read properties of undefined (reading 'data')")));
  t.false(isDependencyDown({ type: 'StripeInvalidRequestError' }));
  t.false(isDependencyDown(new MongoServerError({ message: 'bad key', code: 2 })));
});
