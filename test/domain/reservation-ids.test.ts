/**
 * Reservation ids name their hold entry: the feature's hash, the seq and a
 * random part, parsed back exactly; anything else is not an id.
 */
import test from 'ava';
import {
  featureHash,
  featuresOfReservation,
  maxReservationSeq,
  parseReservationId,
  reservationId,
} from '../../src/domain/reservation-ids.js';
import { endOnceKey, reserveOnceKey, trackOnceKey } from '../../src/domain/usage-once-keys.js';

const random = '0123456789abcdef';

test('an id is rsv_ and 32 hex: feature hash, seq, random; it parses back', (t) => {
  const id = reservationId('api_requests', 0x2a, random);
  t.regex(id, /^rsv_[0-9a-f]{32}$/);
  t.is(id, `rsv_${featureHash('api_requests')}000000002a${random}`);
  t.deepEqual(parseReservationId(id), {
    featureHash: featureHash('api_requests'),
    seq: 42,
    random,
  });
  const last = reservationId('f', maxReservationSeq, random);
  t.is(parseReservationId(last)?.seq, maxReservationSeq);
});

test('the feature hash is 6 hex, stable, and tells features apart', (t) => {
  t.regex(featureHash('api_requests'), /^[0-9a-f]{6}$/);
  t.is(featureHash('api_requests'), featureHash('api_requests'));
  t.not(featureHash('api_requests'), featureHash('ai_tokens'));
});

test('the hash names the feature among the catalog’s; a forged hash names none', (t) => {
  const parts = parseReservationId(reservationId('ai_tokens', 3, random));
  if (!parts) return t.fail('not parsed');
  t.deepEqual(featuresOfReservation(parts, ['api_requests', 'ai_tokens', 'ai_tokens']), [
    'ai_tokens',
  ]);
  t.deepEqual(featuresOfReservation({ ...parts, featureHash: 'zzzzzz' }, ['ai_tokens']), []);
});

test('anything else is not a reservation id; bad parts are refused when making one', (t) => {
  for (const bad of [
    '',
    'rsv_',
    `rsv_${'0'.repeat(31)}`,
    `rsv_${'0'.repeat(33)}`,
    `rsv_${'A'.repeat(32)}`,
    `usg_${'0'.repeat(32)}`,
    `rsv_${'0'.repeat(32)}`, // seq 0: no entry has it
  ]) {
    t.is(parseReservationId(bad), undefined, bad);
  }
  t.throws(() => reservationId('f', 0, random), { instanceOf: RangeError });
  t.throws(() => reservationId('f', maxReservationSeq + 1, random), { instanceOf: RangeError });
  t.throws(() => reservationId('f', 1.5, random), { instanceOf: RangeError });
  t.throws(() => reservationId('f', 1, 'short'), { instanceOf: RangeError });
});

test('once keys: each namespace its own, a project’s its own, TrackUsage keys as stored before', (t) => {
  t.is(trackOnceKey('p:1', 'k'), 'track:p%3A1:k');
  t.not(trackOnceKey('p', 'k'), reserveOnceKey('p', 'k'));
  t.not(reserveOnceKey('p', 'k'), reserveOnceKey('q', 'k'));
  t.is(endOnceKey('p', 'rsv_x'), 'end:p:rsv_x');
  t.not(reserveOnceKey('p', 'a:b'), reserveOnceKey('p:a', 'b'));
});
