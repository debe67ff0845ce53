/** Which usage goes to a Stripe meter, under which name, and when a failed send is tried again. */
import test from 'ava';
import type { Catalog, CatalogFeature, MeteredRules } from '../../src/domain/catalog.js';
import {
  isFailingMeterEvent,
  type MeterRetryPolicy,
  meterEventNameOf,
  meterEventTimestamp,
  meterEventValue,
  nextMeterAttemptAt,
} from '../../src/domain/meter-events.js';

const rules = (stripeMeterEventName: string | null): MeteredRules => ({
  allowance: 100,
  allowancePerUnit: false,
  reset: 'billing_period',
  overage: 'allow',
  stripeMeterEventName,
});

const metered = (feature: string, meter: string | null): CatalogFeature => ({
  feature,
  limit: null,
  limitPerUnit: false,
  kind: 'metered',
  metered: rules(meter),
});

const plain = (feature: string, kind: 'boolean' | 'limit'): CatalogFeature => ({
  feature,
  limit: kind === 'limit' ? 5 : null,
  limitPerUnit: false,
  kind,
  metered: null,
});

const catalog: Catalog = new Map([
  [
    'price_a',
    [metered('api_calls', 'api_calls_meter'), metered('tokens', null), plain('sso', 'boolean')],
  ],
  ['price_b', [plain('seats', 'limit'), metered('api_calls', 'api_calls_meter')]],
  ['prod_c', [metered('storage', null)]],
  ['prod_d', [metered('storage', 'storage_meter')]],
]);

test('a metered feature with a meter is reported under its event name', (t) => {
  t.is(meterEventNameOf(catalog, 'api_calls'), 'api_calls_meter');
});

test('metered without a meter, other kinds and unknown features are not reported', (t) => {
  t.is(meterEventNameOf(catalog, 'tokens'), null);
  t.is(meterEventNameOf(catalog, 'sso'), null);
  t.is(meterEventNameOf(catalog, 'seats'), null);
  t.is(meterEventNameOf(catalog, 'nothing'), null);
  t.is(meterEventNameOf(new Map(), 'api_calls'), null);
});

test('a meter named by any entry of the feature counts (catalogs stored before validation)', (t) => {
  t.is(meterEventNameOf(catalog, 'storage'), 'storage_meter');
});

test('a feature whose kind is not metered is not reported even if rules linger', (t) => {
  const odd: Catalog = new Map([
    ['price_x', [{ ...plain('legacy', 'limit'), metered: rules('legacy_meter') }]],
  ]);
  t.is(meterEventNameOf(odd, 'legacy'), null);
});

const policy: MeterRetryPolicy = { baseMs: 10_000, maxMs: 3_600_000, failingAfter: 10 };
const now = new Date('2026-06-15T12:00:00Z');
const waitAfter = (attempts: number) =>
  nextMeterAttemptAt(now, attempts, policy).getTime() - now.getTime();

test('the wait after a failure doubles from the base', (t) => {
  t.is(waitAfter(1), 10_000);
  t.is(waitAfter(2), 20_000);
  t.is(waitAfter(3), 40_000);
  t.is(waitAfter(6), 320_000);
});

test('the wait never passes the cap, however many failures', (t) => {
  t.is(waitAfter(10), 3_600_000);
  t.is(waitAfter(1000), 3_600_000);
  t.is(waitAfter(Number.MAX_SAFE_INTEGER), 3_600_000);
});

test('zero or negative attempts wait the base (never in the past)', (t) => {
  t.is(waitAfter(0), 10_000);
  t.is(waitAfter(-3), 10_000);
});

test('an event fails for operators from failingAfter attempts on', (t) => {
  t.false(isFailingMeterEvent(0, policy));
  t.false(isFailingMeterEvent(9, policy));
  t.true(isFailingMeterEvent(10, policy));
  t.true(isFailingMeterEvent(11, policy));
});

test('values are whole numbers written as strings', (t) => {
  t.is(meterEventValue(7), '7');
  t.is(meterEventValue(0), '0');
  t.is(meterEventValue(9_007_199_254_740_991), '9007199254740991');
  t.throws(() => meterEventValue(1.5), { instanceOf: RangeError });
  t.throws(() => meterEventValue(Number.NaN), { instanceOf: RangeError });
  t.throws(() => meterEventValue(2 ** 60), { instanceOf: RangeError });
});

test('timestamps are whole seconds, rounded down', (t) => {
  t.is(meterEventTimestamp(new Date('2026-06-15T12:00:00.999Z')), 1781524800);
  t.is(meterEventTimestamp(new Date(0)), 0);
});
