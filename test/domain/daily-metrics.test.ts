/** UTC days of the figures over time: parsing, ranges and the window of new and churned. */
import test from 'ava';
import {
  addDays,
  dayOf,
  daySpan,
  daysFrom,
  dayWindow,
  startOfDay,
} from '../../src/domain/daily-metrics.js';

test('an instant falls on its UTC day, whatever the local time zone says', (t) => {
  t.is(dayOf(new Date('2026-03-01T23:59:59.999Z')), '2026-03-01');
  t.is(dayOf(new Date('2026-03-02T00:00:00.000Z')), '2026-03-02');
  t.is(dayOf(new Date('2026-03-01T23:30:00-02:00')), '2026-03-02');
});

test('only real dates written as YYYY-MM-DD are days', (t) => {
  t.deepEqual(startOfDay('2028-02-29'), new Date('2028-02-29T00:00:00Z'));
  for (const notADay of [
    '2026-02-29',
    '2026-02-30',
    '2026-13-01',
    '2026-3-01',
    '2026-03-01T00:00',
    '',
  ])
    t.is(startOfDay(notADay), undefined, notADay);
});

test('days count across month, year and leap-day boundaries', (t) => {
  t.is(addDays('2026-02-28', 1), '2026-03-01');
  t.is(addDays('2028-02-28', 1), '2028-02-29');
  t.is(addDays('2026-12-31', 1), '2027-01-01');
  t.is(addDays('2026-03-01', -29), '2026-01-31');
  t.deepEqual(daysFrom('2026-12-30', '2027-01-02'), [
    '2026-12-30',
    '2026-12-31',
    '2027-01-01',
    '2027-01-02',
  ]);
  t.deepEqual(daysFrom('2026-03-02', '2026-03-01'), []);
  t.is(daySpan('2026-03-01', '2026-03-01'), 1);
  t.is(daySpan('2025-03-01', '2026-03-01'), 366);
  t.is(daySpan('2026-03-02', '2026-03-01'), 0);
});

test('a past day counts new and churned over all of it, today up to now, the future not at all', (t) => {
  const now = new Date('2026-03-05T10:00:00Z');
  t.deepEqual(dayWindow('2026-03-04', now), {
    start: new Date('2026-03-04T00:00:00Z'),
    end: new Date('2026-03-05T00:00:00Z'),
  });
  t.deepEqual(dayWindow('2026-03-05', now), { start: new Date('2026-03-05T00:00:00Z'), end: now });
  t.is(dayWindow('2026-03-06', now), undefined);
  t.is(dayWindow('2026-03-05', new Date('2026-03-05T00:00:00Z')), undefined);
});
