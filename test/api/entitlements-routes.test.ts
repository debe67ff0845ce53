/**
 * EntitlementsService, every RPC in memory and over a port (rpc-harness.ts):
 * what a product sees for a customer's entitlements, customer tokens, the
 * watch stream, and the refusals of each RPC.
 */
import { Code } from '@connectrpc/connect';
import {
  DenialReason,
  EntitlementsService,
  WatchEventKind,
} from '../../gen/billing/v1/entitlements_pb.js';
import type { EntitlementSet } from '../../src/domain/entitlements.js';
import { codeOf } from '../helpers/rpc.js';
import { bearer, type RpcRun, rpcTest } from './rpc-harness.js';

const seats: EntitlementSet = {
  entitlements: [
    {
      feature: 'seats',
      allowed: true,
      limit: 5,
      validUntil: null,
      sources: [
        {
          kind: 'grant',
          id: 'gr_000000000001',
          limit: 5,
          validUntil: null,
          status: null,
          catalogId: null,
        },
      ],
    },
  ],
  validUntil: null,
};

function setUp(run: RpcRun) {
  const client = run.client(EntitlementsService);
  const reader = run.world.keys.add('p1', ['entitlements:read']);
  run.world.entitlements.change('p1', 'cust_1', seats);
  return { client, reader };
}

rpcTest(
  'CheckEntitlement answers whether the customer has the feature, and its limit',
  async (t, run) => {
    const { client, reader } = setUp(run);
    const seatsAnswer = await client.checkEntitlement(
      { customerId: 'cust_1', feature: 'seats' },
      bearer(reader),
    );
    t.like(seatsAnswer.entitlement, { feature: 'seats', allowed: true, limit: 5n });
    const other = await client.checkEntitlement(
      { customerId: 'cust_1', feature: 'sso' },
      bearer(reader),
    );
    t.like(other.entitlement, { feature: 'sso', allowed: false, limit: undefined });
  },
);

rpcTest(
  'CheckEntitlement says why a feature is refused, and nothing when allowed',
  async (t, run) => {
    const { client, reader } = setUp(run);
    run.world.entitlements.change('p1', 'cust_1', {
      ...seats,
      denials: [
        { feature: 'export', reason: 'subscription_ended' },
        { feature: 'reports', reason: 'past_grace' },
        { feature: 'sso', reason: 'no_source' },
      ],
    });
    const reasons = await Promise.all(
      ['seats', 'export', 'reports', 'sso', 'nope'].map(async (feature) => {
        const { entitlement } = await client.checkEntitlement(
          { customerId: 'cust_1', feature },
          bearer(reader),
        );
        return entitlement?.denialReason;
      }),
    );
    t.deepEqual(reasons, [
      DenialReason.UNSPECIFIED,
      DenialReason.SUBSCRIPTION_ENDED,
      DenialReason.PAST_GRACE,
      DenialReason.NO_SOURCE,
      DenialReason.UNKNOWN_FEATURE,
    ]);
  },
);

rpcTest('ListEntitlements lists what the customer is allowed, with sources', async (t, run) => {
  const { client, reader } = setUp(run);
  const answer = await client.listEntitlements({ customerId: 'cust_1' }, bearer(reader));
  t.deepEqual(
    answer.entitlements.map((e) => [e.feature, e.limit, e.sources.map((s) => s.id)]),
    [['seats', 5n, ['gr_000000000001']]],
  );
  const nobody = await client.listEntitlements({ customerId: 'cust_2' }, bearer(reader));
  t.deepEqual(nobody.entitlements, []);
});

rpcTest('WatchEntitlements sends the current set, then the changed set', async (t, run) => {
  const { client, reader } = setUp(run);
  const stop = new AbortController();
  t.teardown(() => stop.abort());
  const stream = client
    .watchEntitlements({ customerId: 'cust_1' }, { ...bearer(reader), signal: stop.signal })
    [Symbol.asyncIterator]();
  const next = async () => {
    const result = await stream.next();
    if (result.done) throw new Error('the stream ended');
    return result.value;
  };
  const first = await next();
  t.is(first.kind, WatchEventKind.SNAPSHOT);
  t.deepEqual(
    first.entitlements.map((e) => e.feature),
    ['seats'],
  );
  run.world.entitlements.change('p1', 'cust_1', { entitlements: [], validUntil: null });
  const second = await next();
  t.is(second.kind, WatchEventKind.CHANGE);
  t.deepEqual(second.entitlements, []);
});

rpcTest('IssueCustomerToken gives a token that reads its own customer only', async (t, run) => {
  const { client } = setUp(run);
  const issuer = run.world.keys.add('p1', ['entitlements:read']);
  const before = Date.now();
  const issued = await client.issueCustomerToken({ customerId: 'cust_1' }, bearer(issuer));
  const expiresMs = Number(issued.expiresAt?.seconds ?? 0n) * 1000;
  // 15 minutes by default (the timestamp is whole seconds).
  t.true(expiresMs >= before + 15 * 60_000 - 1000 && expiresMs <= Date.now() + 15 * 60_000);
  const own = await client.checkEntitlement(
    { customerId: 'cust_1', feature: 'seats' },
    bearer(issued.token),
  );
  t.true(own.entitlement?.allowed);
  t.is(
    await codeOf(client.listEntitlements({ customerId: 'cust_2' }, bearer(issued.token))),
    Code.PermissionDenied,
  );
});

/** A call made with the test's client and keys (reader: entitlements:read; writer: checkout:write). */
type Refusal = (k: ReturnType<typeof setUp> & { writer: string }) => Promise<unknown>;

const refusals: ReadonlyArray<[string, Refusal, Code]> = [
  [
    'CheckEntitlement without a key',
    (k) => k.client.checkEntitlement({ customerId: 'c', feature: 'f' }),
    Code.Unauthenticated,
  ],
  [
    'CheckEntitlement without a feature',
    (k) => k.client.checkEntitlement({ customerId: 'c' }, bearer(k.reader)),
    Code.InvalidArgument,
  ],
  [
    'ListEntitlements with a checkout-only key',
    (k) => k.client.listEntitlements({ customerId: 'c' }, bearer(k.writer)),
    Code.PermissionDenied,
  ],
  [
    'ListEntitlements without a customer',
    (k) => k.client.listEntitlements({}, bearer(k.reader)),
    Code.InvalidArgument,
  ],
  [
    'WatchEntitlements without a customer',
    (k) => firstMessage(k.client.watchEntitlements({}, bearer(k.reader))),
    Code.InvalidArgument,
  ],
  [
    'WatchEntitlements with an unknown key',
    (k) =>
      firstMessage(
        k.client.watchEntitlements({ customerId: 'c' }, bearer(`${k.reader.slice(0, -4)}AAAA`)),
      ),
    Code.Unauthenticated,
  ],
  [
    'IssueCustomerToken with a ttl over a day',
    (k) =>
      k.client.issueCustomerToken({ customerId: 'c', ttl: { seconds: 86_401n } }, bearer(k.reader)),
    Code.InvalidArgument,
  ],
];

for (const [name, call, code] of refusals) {
  rpcTest(`refused: ${name}`, async (t, run) => {
    const keys = setUp(run);
    const writer = run.world.keys.add('p1', ['checkout:write']);
    t.is(await codeOf(call({ ...keys, writer })), code);
  });
}

rpcTest(
  'TrackUsage needs the usage:write scope, and that scope alone reads nothing',
  async (t, run) => {
    const { client, reader } = setUp(run);
    const admin = run.world.keys.add('p1', ['admin']);
    const usage = run.world.keys.add('p1', ['usage:write']);
    const { token } = await client.issueCustomerToken({ customerId: 'cust_1' }, bearer(reader));
    const track = (key: string) =>
      codeOf(
        client.trackUsage(
          { customerId: 'cust_1', feature: 'api_calls', amount: 1n, idempotencyKey: 'u-1' },
          bearer(key),
        ),
      );
    for (const key of [reader, admin, token]) t.is(await track(key), Code.PermissionDenied);
    t.not(await track(usage), Code.PermissionDenied);
    t.is(
      await codeOf(
        client.checkEntitlement({ customerId: 'cust_1', feature: 'seats' }, bearer(usage)),
      ),
      Code.PermissionDenied,
    );
  },
);

rpcTest('refused: IssueCustomerToken called with a customer token', async (t, run) => {
  const { client, reader } = setUp(run);
  const { token } = await client.issueCustomerToken({ customerId: 'cust_1' }, bearer(reader));
  t.is(
    await codeOf(client.issueCustomerToken({ customerId: 'cust_1' }, bearer(token))),
    Code.PermissionDenied,
  );
});

async function firstMessage(stream: AsyncIterable<unknown>): Promise<unknown> {
  for await (const message of stream) return message;
  return undefined;
}
