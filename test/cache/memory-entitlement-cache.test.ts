/**
 * The in-process entitlement cache's byte bound counts what is really held:
 * a cache bounded at a few megabytes takes about that much heap (measured
 * after a full collection), sets beyond it push the oldest customers out,
 * and what comes back reads exactly as computed.
 */
import { setImmediate as macrotask } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import test from 'ava';
import { MemoryEntitlementCache } from '../../src/cache/entitlement-cache.js';
import { computeEntitlements } from '../../src/domain/entitlements.js';
import { at, inputs, subscription } from '../domain/engine-fixtures.js';
import { FakeBus } from './fake-bus.js';

// A full collection on demand, for this measurement only.
v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

const customerSet = (n: number) =>
  computeEntitlements(
    inputs({
      subscriptions: [subscription({ id: `sub_${n}`, cancelAt: at(1 + (n % 300) / 7) })],
    }),
  );

/** Heap used after a full collection (after a turn, so WeakRef targets of the last job can go). */
async function liveHeap(): Promise<number> {
  await macrotask();
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

test.serial('a cache bounded at 4 MB holds about 4 MB, the newest customers', async (t) => {
  const maxBytes = 4 * 1024 * 1024;
  const customers = 30_000;
  const nowMs = at(0).getTime();
  const before = await liveHeap();
  const cache = new MemoryEntitlementCache(new FakeBus(), 3_600_000, 1_000_000, maxBytes);
  for (let n = 0; n < customers; n++) {
    cache.set(
      'project_0123456789abcdef',
      `customer-${n}`,
      customerSet(n),
      nowMs,
      cache.readToken(),
    );
  }
  // Every held customer is read once, as a stream or a check would.
  let held = 0;
  for (let n = 0; n < customers; n++) {
    if (cache.get('project_0123456789abcdef', `customer-${n}`, nowMs)) held += 1;
  }
  const grown = (await liveHeap()) - before;
  t.log(`${held} customers held in ${grown} bytes (${Math.round(grown / held)} per customer)`);
  t.true(held > 1_000 && held < customers, `${held} held`);
  t.true(
    grown > 0.75 * maxBytes && grown < 1.25 * maxBytes,
    `${grown} bytes for a ${maxBytes} bound`,
  );
  t.is(
    cache.get('project_0123456789abcdef', 'customer-0', nowMs),
    undefined,
    'the oldest made room',
  );
  t.deepEqual(
    cache.get('project_0123456789abcdef', `customer-${customers - 1}`, nowMs),
    customerSet(customers - 1),
  );
});
