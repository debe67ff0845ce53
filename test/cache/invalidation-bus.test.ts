// needs: redis
/**
 * The invalidation bus against a real Redis: a balance-only change keeps its
 * `usageOnly` flag across replicas (so their streams may coalesce it), a
 * flag that is not `true` reads as any change (never delayed), and
 * `deliverLocally` reaches this replica's handlers only.
 */
import { randomBytes } from 'node:crypto';
import test from 'ava';
import { Redis } from 'ioredis';
import { InvalidationBus, type InvalidationMessage } from '../../src/cache/invalidation-bus.js';
import { createLogger } from '../../src/logger.js';
import { testRedisUrl } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const logger = createLogger({ level: 'error' });

async function startBus(t: { teardown(fn: () => void): void }) {
  const publisher = new Redis(testRedisUrl());
  const subscriber = new Redis(testRedisUrl());
  t.teardown(() => {
    publisher.disconnect();
    subscriber.disconnect();
  });
  const bus = new InvalidationBus(publisher, subscriber, logger);
  await bus.start();
  const received: InvalidationMessage[] = [];
  bus.onMessage((message) => received.push(message));
  // Subscribed once a message of our own comes back.
  const probe = `probe-${randomBytes(6).toString('hex')}`;
  await waitFor(
    async () => {
      await bus.publish({ kind: 'project', projectId: probe });
      return received.filter((m) => m.kind === 'project' && m.projectId === probe).length >= 2;
    },
    { what: 'the bus to be subscribed' },
  );
  return { bus, publisher, received };
}

const ofCustomer = (received: InvalidationMessage[], customerId: string) =>
  received.filter((m) => m.kind === 'entitlements' && m.customerId === customerId);

test('usageOnly crosses to the other replica; any other value reads as a plain change', async (t) => {
  const sender = await startBus(t);
  const other = await startBus(t);
  const customerId = `c-${randomBytes(6).toString('hex')}`;
  await sender.bus.publish({ kind: 'entitlements', projectId: 'p', customerId, usageOnly: true });
  await sender.publisher.publish(
    'billing:invalidate',
    JSON.stringify({ kind: 'entitlements', projectId: 'p', customerId, usageOnly: 'yes' }),
  );
  const got = await waitFor(() => ofCustomer(other.received, customerId), {
    what: 'both messages on the other bus',
    until: (messages) => messages.length === 2,
  });
  t.deepEqual(got, [
    { kind: 'entitlements', projectId: 'p', customerId, usageOnly: true },
    { kind: 'entitlements', projectId: 'p', customerId },
  ]);
});

test('deliverLocally reaches this replica only', async (t) => {
  const sender = await startBus(t);
  const other = await startBus(t);
  const local = `c-${randomBytes(6).toString('hex')}`;
  const marker = `c-${randomBytes(6).toString('hex')}`;
  sender.bus.deliverLocally({ kind: 'entitlements', projectId: 'p', customerId: local });
  t.is(ofCustomer(sender.received, local).length, 1);
  // Published after it: once the marker arrived, a published local message would have too.
  await sender.bus.publish({ kind: 'entitlements', projectId: 'p', customerId: marker });
  await waitFor(() => ofCustomer(other.received, marker).length, { what: 'the marker' });
  t.is(ofCustomer(other.received, local).length, 0);
});
