/**
 * EntitlementWatchHub in memory, with a fake bus, a fake lookup and a fake
 * clock: a burst of usage-only changes wakes a stream twice (at once, and
 * with the final balance at the window's end), so the stream recomputes
 * twice, not once per change; any other change is never delayed and carries
 * the usage that waited.
 */
import test from 'ava';
import type { InvalidationMessage } from '../../src/cache/invalidation-bus.js';
import type { EntitlementSet } from '../../src/domain/entitlements.js';
import { EntitlementWatchHub, type WatchUpdate } from '../../src/services/entitlement-watch-hub.js';
import { hasSettled } from '../helpers/wait.js';
import { FakeCoalescerClock } from './fake-coalescer-clock.js';

class FakeBus {
  private readonly handlers = new Set<(message: InvalidationMessage) => void>();

  onMessage(handler: (message: InvalidationMessage) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  onReconnect(): void {}

  emit(message: InvalidationMessage): void {
    for (const handler of this.handlers) handler(message);
  }
}

/** One metered feature whose usage the test sets; counts the recomputations. */
class FakeLookup {
  usage = 0;
  extraFeature = false;
  lists = 0;

  async list(): Promise<EntitlementSet> {
    this.lists += 1;
    const metered = {
      feature: 'api',
      allowed: true,
      limit: null,
      sources: [],
      validUntil: null,
      metered: {
        usage: this.usage,
        balance: 1000 - this.usage,
        resetsAt: new Date(0),
        overage: 'block' as const,
      },
    };
    const extra = { feature: 'beta', allowed: true, limit: null, sources: [], validUntil: null };
    return { entitlements: this.extraFeature ? [metered, extra] : [metered], validUntil: null };
  }
}

function world() {
  const bus = new FakeBus();
  const lookup = new FakeLookup();
  const clock = new FakeCoalescerClock();
  const hub = new EntitlementWatchHub(bus, lookup, {
    heartbeatMs: 600_000,
    usageCoalesceMs: 250,
    clock,
  });
  const usage = () =>
    bus.emit({ kind: 'entitlements', projectId: 'p', customerId: 'c', usageOnly: true });
  const other = () => bus.emit({ kind: 'entitlements', projectId: 'p', customerId: 'c' });
  return { bus, lookup, clock, hub, usage, other };
}

async function opened(t: { teardown(fn: () => void): void }, hub: EntitlementWatchHub) {
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const stream = hub.watch('p', 'c', abort.signal);
  await stream.next(); // the snapshot
  return stream;
}

const changeIn = (next: IteratorResult<WatchUpdate>): EntitlementSet | undefined => {
  const update: WatchUpdate | undefined = next.done ? undefined : next.value;
  return update?.kind === 'change' ? update.set : undefined;
};
const usageIn = (next: IteratorResult<WatchUpdate>) =>
  changeIn(next)?.entitlements[0]?.metered?.usage;
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

test('500 usage changes in one window: two messages, two recomputations, the last with the final usage', async (t) => {
  const { lookup, clock, hub, usage } = world();
  const stream = await opened(t, hub);
  t.is(lookup.lists, 1);
  lookup.usage = 1;
  usage();
  t.is(usageIn(await stream.next()), 1);
  for (let i = 2; i <= 500; i += 1) {
    lookup.usage = i;
    usage();
  }
  const trailing = stream.next();
  await settle();
  t.false(await hasSettled(trailing), 'nothing before the window ends');
  clock.advance(250);
  t.is(usageIn(await trailing), 500);
  t.is(lookup.lists, 3);
});

test('another change during a burst is sent at once with the usage that waited, and nothing follows it', async (t) => {
  const { lookup, clock, hub, usage, other } = world();
  const stream = await opened(t, hub);
  lookup.usage = 1;
  usage();
  t.is(usageIn(await stream.next()), 1);
  lookup.usage = 7;
  usage();
  lookup.extraFeature = true;
  other();
  const next = await stream.next();
  t.deepEqual(
    changeIn(next)?.entitlements.map((e) => e.feature),
    ['api', 'beta'],
  );
  t.is(usageIn(next), 7);
  const lists = lookup.lists;
  const after = stream.next();
  clock.advance(250);
  await settle();
  t.false(await hasSettled(after), 'the usage that waited went with the change');
  t.is(lookup.lists, lists);
});

test('usage changes of a customer nobody watches plan nothing', (t) => {
  const { clock, usage } = world();
  usage();
  t.is(clock.plannedTimers, 0);
});
