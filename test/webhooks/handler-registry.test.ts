/**
 * The handled event types are exactly those the product spec lists, and each
 * has a test file named after it (customer.subscription.updated:
 * customer-subscription-updated.test.ts), so its tests are found in one step.
 */
import { existsSync } from 'node:fs';
import test from 'ava';
import { eventHandlers } from '../../src/stripe/handlers/index.js';

const specified = [
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'invoice.paid',
  'invoice.payment_failed',
  'charge.refunded',
];

const testFileOf = (type: string) =>
  new URL(`./${type.replaceAll(/[._]/g, '-')}.test.ts`, import.meta.url);

test('the registry handles the event types of the spec', (t) => {
  t.deepEqual([...eventHandlers.keys()].sort(), [...specified].sort());
});

test('every handled event type has a test file named after it', (t) => {
  const missing = [...eventHandlers.keys()].filter((type) => !existsSync(testFileOf(type)));
  t.deepEqual(missing, []);
});
