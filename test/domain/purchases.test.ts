/** How a one-time purchase is keyed across the events that tell about it. */
import test from 'ava';
import { purchaseKey } from '../../src/domain/purchases.js';

test('a paid purchase is known by its PaymentIntent (what a refund names)', (t) => {
  t.is(purchaseKey('cs_1', 'pi_1'), 'pi_1');
});

test('a free purchase has no PaymentIntent and is known by its checkout session', (t) => {
  t.is(purchaseKey('cs_1', null), 'cs_1');
});
