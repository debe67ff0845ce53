/** The period a usage counts in: billing periods, own intervals anchored at the period start, month-end clamping. */
import test from 'ava';
import { addIntervals, intervalPeriodAt, usagePeriodAt } from '../../src/domain/usage-periods.js';

const d = (iso: string) => new Date(iso);
const iso = (p: { start: Date; end: Date }) => [p.start.toISOString(), p.end.toISOString()];

const billing = { start: d('2026-03-10T08:00:00Z'), end: d('2026-04-10T08:00:00Z') };

test('a usage inside the billing period counts in it', (t) => {
  t.deepEqual(
    iso(usagePeriodAt('billing_period', billing, d('2026-03-20T00:00:00Z'))),
    iso(billing),
  );
  t.deepEqual(iso(usagePeriodAt('billing_period', billing, billing.start)), iso(billing));
});

test('a usage before the billing period counts in the previous one, which ends where the current starts', (t) => {
  const previous = usagePeriodAt('billing_period', billing, d('2026-03-10T07:59:59Z'));
  t.is(previous.end.toISOString(), billing.start.toISOString());
  t.true(previous.start.getTime() < billing.start.getTime());
});

test('a usage after the known end (renewal webhook not yet in) counts in the current period', (t) => {
  t.deepEqual(
    iso(usagePeriodAt('billing_period', billing, d('2026-04-10T09:00:00Z'))),
    iso(billing),
  );
});

test('without a billing period, calendar months (UTC) count', (t) => {
  t.deepEqual(iso(usagePeriodAt('billing_period', null, d('2026-02-14T10:00:00Z'))), [
    '2026-02-01T00:00:00.000Z',
    '2026-03-01T00:00:00.000Z',
  ]);
  t.deepEqual(iso(usagePeriodAt('day', null, d('2026-02-14T10:00:00Z'))), [
    '2026-02-14T00:00:00.000Z',
    '2026-02-15T00:00:00.000Z',
  ]);
});

test('a monthly reset on a yearly plan runs from the plan anniversary, month by month', (t) => {
  const yearly = { start: d('2026-01-15T12:00:00Z'), end: d('2027-01-15T12:00:00Z') };
  t.deepEqual(iso(usagePeriodAt('month', yearly, d('2026-05-20T00:00:00Z'))), [
    '2026-05-15T12:00:00.000Z',
    '2026-06-15T12:00:00.000Z',
  ]);
  t.deepEqual(iso(usagePeriodAt('month', yearly, d('2026-05-15T11:59:59Z'))), [
    '2026-04-15T12:00:00.000Z',
    '2026-05-15T12:00:00.000Z',
  ]);
});

test('daily and weekly resets are anchored at the period start', (t) => {
  t.deepEqual(iso(usagePeriodAt('day', billing, d('2026-03-12T07:00:00Z'))), [
    '2026-03-11T08:00:00.000Z',
    '2026-03-12T08:00:00.000Z',
  ]);
  t.deepEqual(iso(usagePeriodAt('week', billing, d('2026-03-24T09:00:00Z'))), [
    '2026-03-24T08:00:00.000Z',
    '2026-03-31T08:00:00.000Z',
  ]);
});

test('a yearly reset on a monthly plan runs a year from the period start', (t) => {
  t.deepEqual(iso(usagePeriodAt('year', billing, d('2026-12-01T00:00:00Z'))), [
    '2026-03-10T08:00:00.000Z',
    '2027-03-10T08:00:00.000Z',
  ]);
});

test('month arithmetic clamps to the end of shorter months', (t) => {
  const jan31 = d('2026-01-31T00:00:00Z');
  t.is(addIntervals(jan31, 'month', 1).toISOString(), '2026-02-28T00:00:00.000Z');
  t.is(addIntervals(jan31, 'month', 2).toISOString(), '2026-03-31T00:00:00.000Z');
  t.is(
    addIntervals(d('2028-01-31T00:00:00Z'), 'month', 1).toISOString(),
    '2028-02-29T00:00:00.000Z',
  );
  t.is(
    addIntervals(d('2024-02-29T00:00:00Z'), 'year', 1).toISOString(),
    '2025-02-28T00:00:00.000Z',
  );
  t.is(addIntervals(jan31, 'month', -2).toISOString(), '2025-11-30T00:00:00.000Z');
  t.deepEqual(iso(intervalPeriodAt(jan31, 'month', d('2026-03-01T00:00:00Z'))), [
    '2026-02-28T00:00:00.000Z',
    '2026-03-31T00:00:00.000Z',
  ]);
});

test('a usage before the anchor falls in an earlier interval', (t) => {
  t.deepEqual(iso(intervalPeriodAt(billing.start, 'month', d('2026-01-01T00:00:00Z'))), [
    '2025-12-10T08:00:00.000Z',
    '2026-01-10T08:00:00.000Z',
  ]);
});

test('every instant of a year lies in exactly one monthly period, and periods tile without gaps', (t) => {
  const anchor = d('2026-01-31T05:00:00Z');
  let previous = intervalPeriodAt(anchor, 'month', anchor);
  for (let hour = 1; hour < 24 * 400; hour += 7) {
    const at = new Date(anchor.getTime() + hour * 3600 * 1000);
    const period = intervalPeriodAt(anchor, 'month', at);
    t.true(period.start.getTime() <= at.getTime() && at.getTime() < period.end.getTime());
    if (period.start.getTime() !== previous.start.getTime()) {
      t.is(period.start.getTime(), previous.end.getTime());
    }
    previous = period;
  }
});
