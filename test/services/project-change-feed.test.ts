/**
 * ProjectChangeFeedService in memory: a fake feed, bus and lookup. Changes
 * of one customer read together are sent once with the newest set, a
 * project change is passed on in its place, a bus message wakes a reader at
 * once, a lost one costs at most a heartbeat, and a long feed is read on
 * without waiting.
 */
import test from 'ava';
import { compareIds, type FeedEntry, type FeedStart } from '../../src/cache/change-feed.js';
import type { EntitlementSet } from '../../src/domain/entitlements.js';
import {
  type ChangeFeedReader,
  ProjectChangeFeedService,
  type ProjectFeedUpdate,
} from '../../src/services/project-change-feed.js';
import { FakeBus } from '../cache/fake-bus.js';

class MemoryFeed implements ChangeFeedReader {
  readonly entries: FeedEntry[] = [];
  private next = 1;
  start_: FeedStart | undefined;
  /** Told how many entries each read found. */
  onRead: (found: number) => void = () => {};

  add(customerId: string | null, version = 0): string {
    const position = `${this.next}-0`;
    this.next += 1;
    this.entries.push({
      position,
      change:
        customerId === null
          ? { kind: 'project' }
          : { kind: 'customer', customerId, usageOnly: false, version },
    });
    return position;
  }

  async start(_projectId: string, resumeAfter: string): Promise<FeedStart> {
    return this.start_ ?? { kind: 'ready', position: resumeAfter || '0-0' };
  }

  async after(_projectId: string, position: string, count: number): Promise<FeedEntry[]> {
    const found = this.entries.filter((e) => compareIds(e.position, position) > 0).slice(0, count);
    this.onRead(found.length);
    return found;
  }
}

/** Each read of a customer answers a set whose one feature names the read's number. */
class CountingLookup {
  reads = 0;
  /** The version each read asked at least. */
  readonly atLeast: number[] = [];
  async listAtLeast(
    _projectId: string,
    customerId: string,
    version: number,
  ): Promise<EntitlementSet> {
    this.reads += 1;
    this.atLeast.push(version);
    const feature = `${customerId}-read-${this.reads}`;
    return {
      entitlements: [{ feature, allowed: true, limit: null, sources: [], validUntil: null }],
      validUntil: null,
      version: this.reads,
    };
  }
}

function world(options: { heartbeatMs?: number; batchSize?: number } = {}) {
  const bus = new FakeBus();
  const feed = new MemoryFeed();
  const lookup = new CountingLookup();
  const service = new ProjectChangeFeedService(bus, feed, lookup, {
    heartbeatMs: options.heartbeatMs ?? 600_000,
    ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
  });
  const abort = new AbortController();
  const open = (resumeAfter = '') => service.watch('p1', resumeAfter, abort.signal);
  return { bus, feed, lookup, open, abort };
}

const summary = (update: ProjectFeedUpdate) =>
  update.kind === 'customer'
    ? `${update.kind} ${update.customerId} @${update.position}`
    : `${update.kind} @${update.position}`;

async function take(stream: AsyncGenerator<ProjectFeedUpdate>, n: number): Promise<string[]> {
  const seen: string[] = [];
  while (seen.length < n) {
    const next = await stream.next();
    if (next.done) break;
    seen.push(summary(next.value));
  }
  return seen;
}

test('changes of one customer read together are sent once, at its last position; a project change splits them', async (t) => {
  const { feed, open, abort } = world();
  for (const customer of ['c1', 'c2', 'c1', null, 'c1']) feed.add(customer);
  const stream = open('0-0');
  t.deepEqual(await take(stream, 5), [
    'ready @0-0',
    'customer c2 @2-0',
    'customer c1 @3-0',
    'project @4-0',
    'customer c1 @5-0',
  ]);
  abort.abort();
});

test('the set sent is read when it is sent, at least as new as the newest change of the run', async (t) => {
  const { feed, open, abort, lookup } = world();
  feed.add('c1', 9);
  feed.add('c1', 7);
  const stream = open('0-0');
  await stream.next(); // ready
  const change = await stream.next();
  t.is(lookup.reads, 1, 'two changes, one read');
  t.deepEqual(lookup.atLeast, [9]);
  t.like(change.value, { kind: 'customer', customerId: 'c1', position: '2-0' });
  if (change.value?.kind === 'customer') t.is(change.value.set.version, 1);
  abort.abort();
});

test('a change told on the bus is read at once; another project’s is not', async (t) => {
  const { feed, open, abort, bus } = world();
  const stream = open();
  t.deepEqual(await take(stream, 1), ['ready @0-0']);
  const waiting = stream.next();
  bus.send({ kind: 'entitlements', projectId: 'p2', customerId: 'c9' });
  feed.add('c9');
  bus.send({ kind: 'entitlements', projectId: 'p1', customerId: 'c9' });
  t.is(summary((await waiting).value as ProjectFeedUpdate), 'customer c9 @1-0');
  abort.abort();
});

test('a change whose bus message was lost arrives after the next heartbeat', async (t) => {
  const { feed, open, abort } = world({ heartbeatMs: 20 });
  const stream = open();
  await stream.next(); // ready
  const readEmpty = new Promise<void>((resolve) => {
    feed.onRead = (found) => found === 0 && resolve();
  });
  const waiting = stream.next();
  await readEmpty; // the reader sleeps now, and no message will wake it
  feed.add('c3');
  t.is(summary((await waiting).value as ProjectFeedUpdate), 'heartbeat @0-0');
  t.deepEqual(await take(stream, 1), ['customer c3 @1-0']);
  abort.abort();
});

test('a feed longer than one read is read on without waiting for a message', async (t) => {
  const { feed, open, abort } = world({ batchSize: 2 });
  for (const customer of ['a', 'b', 'c', 'd', 'e']) feed.add(customer);
  const stream = open('0-0');
  t.deepEqual(await take(stream, 6), [
    'ready @0-0',
    'customer a @1-0',
    'customer b @2-0',
    'customer c @3-0',
    'customer d @4-0',
    'customer e @5-0',
  ]);
  abort.abort();
});

test('a resync from the feed is the first message, and the stream goes on from its position', async (t) => {
  const { feed, open, abort } = world();
  feed.add('old');
  feed.add('old');
  feed.start_ = { kind: 'resync', position: '2-0' };
  const stream = open('1-0');
  t.deepEqual(await take(stream, 1), ['resync @2-0']);
  feed.add('new');
  const waiting = stream.next();
  t.is(summary((await waiting).value as ProjectFeedUpdate), 'customer new @3-0');
  abort.abort();
});

test('a bus reconnect wakes every reader to read the feed', async (t) => {
  const { feed, open, abort, bus } = world();
  const stream = open();
  await stream.next();
  const waiting = stream.next();
  feed.add('c5');
  bus.reconnect();
  t.is(summary((await waiting).value as ProjectFeedUpdate), 'customer c5 @1-0');
  abort.abort();
});
