// needs: mongodb redis
/**
 * WatchEntitlements and usage, across replicas on one database: a burst of
 * tracks reaches streams on both replicas as far fewer messages than
 * tracks, the last one with the final balance, and a check on the other
 * replica gets it too; a webhook during a burst is never held back by the
 * window and carries the usage that waited; the replica that tracked
 * answers its own checks with every track at once; a replica that stops
 * broadcasts the change that waited.
 */
import { type Client, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import test from 'ava';
import {
  EntitlementsService,
  type WatchEntitlementsResponse,
  WatchEventKind,
} from '../../gen/billing/v1/entitlements_pb.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import { nowSeconds } from '../helpers/stripe-objects.js';
import { waitFor } from '../helpers/wait.js';
import { postMeteredSubscription, usageCatalog } from '../usage/usage-world.js';

/**
 * A and B coalesce over 5 s: a track takes 50 to 250 ms on this machine's
 * FerretDB under load, so a shorter window would have little to coalesce
 * and the bound below would say little. C coalesces over 10 minutes,
 * longer than any test may take.
 */
const windowMs = 5000;
const longWindowMs = 600_000;

let a: BillingHarness;
let b: TestApp;
let c: TestApp;

const replica = (env: Record<string, string>) =>
  startTestApp({
    database: a.server.config.mongodbDatabase,
    env: { STRIPE_API_URL: a.fake.url, ...env },
  });

test.before(async () => {
  a = await startBillingHarness({
    catalog: usageCatalog,
    env: { USAGE_CHANGE_COALESCE_MS: String(windowMs) },
  });
  // B keeps a computed set in memory for an hour: only a broadcast brings it up to date.
  b = await replica({
    USAGE_CHANGE_COALESCE_MS: String(windowMs),
    ENTITLEMENT_MEMORY_TTL_MS: '3600000',
  });
  c = await replica({ USAGE_CHANGE_COALESCE_MS: String(longWindowMs) });
});

test.after.always(async () => {
  await c?.app.stop();
  await b?.app.stop();
  await a?.close();
});

const clientOf = (baseUrl: string): Client<typeof EntitlementsService> =>
  createClient(EntitlementsService, createGrpcTransport({ baseUrl }));

type Stream = AsyncIterator<WatchEntitlementsResponse>;

function watch(baseUrl: string, customerId: string, signal: AbortSignal): Stream {
  return clientOf(baseUrl)
    .watchEntitlements({ customerId }, { ...a.auth, signal })
    [Symbol.asyncIterator]();
}

async function nextChange(stream: Stream): Promise<WatchEntitlementsResponse> {
  for (;;) {
    const next = await stream.next();
    if (next.done) throw new Error('stream ended');
    if (next.value.kind !== WatchEventKind.HEARTBEAT) return next.value;
  }
}

const tokens = (message: WatchEntitlementsResponse) =>
  message.entitlements.find((e) => e.feature === 'ai_tokens');

/** Reads changes until one shows `usage`: how many came, and when the last did. */
async function readUntilUsage(stream: Stream, usage: bigint) {
  let messages = 0;
  for (;;) {
    const message = await nextChange(stream);
    messages += 1;
    const standing = tokens(message);
    if (standing?.usage === usage) return { messages, at: Date.now(), standing };
  }
}

const track = (baseUrl: string, customerId: string, key: string) =>
  clientOf(baseUrl).trackUsage(
    { customerId, feature: 'ai_tokens', amount: 1n, idempotencyKey: key, enforce: false },
    a.auth,
  );

/**
 * Subscribes a customer to price_metered (ai_tokens: 10 per unit, overage
 * allowed) for a period that started an hour ago.
 */
async function subscribed(customerId: string, quantity: number) {
  const customer = await a.linkCustomer(customerId);
  const start = nowSeconds() - 3600;
  const period = { start, end: start + 30 * 86400 };
  const id = await postMeteredSubscription(a, customer, {
    quantity,
    period,
    created: nowSeconds() - 10,
  });
  return { customer, id, period };
}

test('a burst of 200 tracks reaches streams on both replicas as a few messages, the last with the final balance', async (t) => {
  const burst = 200;
  await subscribed('wu-burst', 100);
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const onA = watch(a.server.baseUrl, 'wu-burst', abort.signal);
  const onB = watch(b.baseUrl, 'wu-burst', abort.signal);
  t.is(tokens(await nextChange(onA))?.balance, 1000n);
  t.is(tokens(await nextChange(onB))?.balance, 1000n);
  // B holds the set in memory before the burst.
  t.is(
    (
      await clientOf(b.baseUrl).checkEntitlement(
        { customerId: 'wu-burst', feature: 'ai_tokens' },
        a.auth,
      )
    ).entitlement?.usage,
    0n,
  );

  const readers = [readUntilUsage(onA, BigInt(burst)), readUntilUsage(onB, BigInt(burst))];
  const startedAt = Date.now();
  const callers = 8;
  await Promise.all(
    Array.from({ length: callers }, async (_, caller) => {
      for (let i = caller; i < burst; i += callers) {
        await track(a.server.baseUrl, 'wu-burst', `wu-burst-${i}`);
      }
    }),
  );
  for (const [name, reader] of [
    ['A', readers[0]],
    ['B', readers[1]],
  ] as const) {
    const read = await reader;
    if (read === undefined) throw new Error('no reader');
    const bound = (read.at - startedAt) / windowMs + 2;
    t.true(read.messages <= bound, `${name}: ${read.messages} messages, at most ${bound}`);
    t.true(read.messages < burst / 5, `${name}: ${read.messages} messages for ${burst} tracks`);
    t.is(read.standing?.balance, BigInt(1000 - burst), name);
    t.log(`${name}: ${read.messages} messages for ${burst} tracks in ${read.at - startedAt} ms`);
  }
  // The other replica's own checks catch up too, by the trailing broadcast.
  await waitFor(
    async () =>
      (
        await clientOf(b.baseUrl).checkEntitlement(
          { customerId: 'wu-burst', feature: 'ai_tokens' },
          a.auth,
        )
      ).entitlement?.usage,
    { what: 'a check on B to show the final usage', until: (usage) => usage === BigInt(burst) },
  );
});

test('a webhook during a burst is not held back by the window and carries the usage that waited', async (t) => {
  const { customer, id, period } = await subscribed('wu-hook', 100);
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const onC = watch(c.baseUrl, 'wu-hook', abort.signal);
  t.is(tokens(await nextChange(onC))?.usage, 0n);
  await track(c.baseUrl, 'wu-hook', 'wu-hook-1');
  t.is(tokens(await nextChange(onC))?.usage, 1n, 'the first track goes at once');
  // Read-your-writes on the replica that tracked, while its broadcasts wait
  // for the window: the first check keeps the set in C's memory, the second
  // must not answer from that copy.
  const usageOnC = async () =>
    (
      await clientOf(c.baseUrl).checkEntitlement(
        { customerId: 'wu-hook', feature: 'ai_tokens' },
        a.auth,
      )
    ).entitlement?.usage;
  await track(c.baseUrl, 'wu-hook', 'wu-hook-2');
  t.is(await usageOnC(), 2n);
  for (let i = 3; i <= 5; i += 1) await track(c.baseUrl, 'wu-hook', `wu-hook-${i}`);
  t.is(await usageOnC(), 5n);

  // An upgrade to 300 units: the next message is the webhook's, long before C's window ends.
  await postMeteredSubscription(
    a,
    customer,
    { id, quantity: 300, period },
    'customer.subscription.updated',
  );
  const upgraded = tokens(await nextChange(onC));
  t.is(upgraded?.usage, 5n);
  t.is(upgraded?.balance, 2995n);
});

test('a replica that stops broadcasts the balance change that waited for its window', async (t) => {
  await subscribed('wu-stop', 100);
  const d = await replica({ USAGE_CHANGE_COALESCE_MS: String(longWindowMs) });
  t.teardown(() => d.app.stop());
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const onB = watch(b.baseUrl, 'wu-stop', abort.signal);
  t.is(tokens(await nextChange(onB))?.usage, 0n);
  await track(d.baseUrl, 'wu-stop', 'wu-stop-1');
  t.is(tokens(await nextChange(onB))?.usage, 1n);
  await track(d.baseUrl, 'wu-stop', 'wu-stop-2');
  await d.app.stop();
  t.is(tokens(await nextChange(onB))?.usage, 2n);
});
