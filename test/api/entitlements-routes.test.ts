/**
 * EntitlementsService, every RPC in memory and over a port (rpc-harness.ts):
 * what a product sees for a customer's entitlements, customer tokens, the
 * watch stream, and the refusals of each RPC.
 */
import { type Timestamp, timestampFromMs } from '@bufbuild/protobuf/wkt';
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

const apiCalls: EntitlementSet = {
  entitlements: [
    {
      feature: 'api_calls',
      allowed: true,
      limit: null,
      validUntil: new Date('2030-01-01T00:00:00Z'),
      sources: [],
      metered: {
        usage: 90,
        balance: 10,
        reserved: 0,
        credits: 0,
        resetsAt: new Date('2030-01-01T00:00:00Z'),
        overage: 'block',
      },
    },
  ],
  validUntil: new Date('2030-01-01T00:00:00Z'),
};

rpcTest(
  'CheckEntitlement of a metered feature answers usage, balance and resets_at; requested_amount decides',
  async (t, run) => {
    const { client, reader } = setUp(run);
    run.world.entitlements.change('p1', 'cust_1', apiCalls);
    const one = await client.checkEntitlement(
      { customerId: 'cust_1', feature: 'api_calls' },
      bearer(reader),
    );
    t.like(one.entitlement, { allowed: true, usage: 90n, balance: 10n, denialReason: 0 });
    t.is(one.entitlement?.resetsAt?.seconds, BigInt(Date.parse('2030-01-01T00:00:00Z') / 1000));
    const ten = await client.checkEntitlement(
      { customerId: 'cust_1', feature: 'api_calls', requestedAmount: 10n },
      bearer(reader),
    );
    t.true(ten.entitlement?.allowed);
    const eleven = await client.checkEntitlement(
      { customerId: 'cust_1', feature: 'api_calls', requestedAmount: 11n },
      bearer(reader),
    );
    t.like(eleven.entitlement, {
      allowed: false,
      denialReason: DenialReason.INSUFFICIENT_BALANCE,
      balance: 10n,
    });
  },
);

function usageSetUp(run: RpcRun) {
  const keys = setUp(run);
  run.world.usage.allowances.set('api_calls', 100);
  run.world.usage.notMetered.add('reports');
  return { ...keys, writer: run.world.keys.add('p1', ['usage:write']) };
}

rpcTest('TrackUsage records usage and answers its id and the balance after', async (t, run) => {
  const { client, writer } = usageSetUp(run);
  const answer = await client.trackUsage(
    {
      customerId: 'cust_1',
      feature: 'api_calls',
      amount: 30n,
      idempotencyKey: 'k1',
      enforce: true,
    },
    bearer(writer),
  );
  t.is(answer.usageId, 'usg_1');
  t.like(answer.entitlement, { feature: 'api_calls', usage: 30n, balance: 70n, allowed: true });
  t.like(run.world.usage.tracked[0], {
    projectId: 'p1',
    customerId: 'cust_1',
    amount: 30,
    idempotencyKey: 'k1',
    enforce: true,
    occurredAt: undefined,
  });
});

type UsageKeys = ReturnType<typeof usageSetUp>;
interface TrackOverrides {
  readonly customerId?: string;
  readonly feature?: string;
  readonly amount?: bigint;
  readonly idempotencyKey?: string;
  readonly occurredAt?: Timestamp;
  readonly enforce?: boolean;
}
const trackUsage = (k: UsageKeys, overrides: TrackOverrides = {}, token = k.writer) =>
  k.client.trackUsage(
    { customerId: 'cust_1', feature: 'api_calls', amount: 1n, idempotencyKey: 'k', ...overrides },
    bearer(token),
  );

const usageRefusals: Array<[string, (k: UsageKeys) => Promise<unknown>, Code]> = [
  ['a zero amount', (k) => trackUsage(k, { amount: 0n }), Code.InvalidArgument],
  ['a negative amount', (k) => trackUsage(k, { amount: -1n }), Code.InvalidArgument],
  ['an amount over 1e9', (k) => trackUsage(k, { amount: 1_000_000_001n }), Code.InvalidArgument],
  ['no idempotency key', (k) => trackUsage(k, { idempotencyKey: '' }), Code.InvalidArgument],
  [
    'a key over 128 characters',
    (k) => trackUsage(k, { idempotencyKey: 'k'.repeat(129) }),
    Code.InvalidArgument,
  ],
  [
    'a key with a line break',
    (k) => trackUsage(k, { idempotencyKey: 'a\nb' }),
    Code.InvalidArgument,
  ],
  ['no customer', (k) => trackUsage(k, { customerId: '' }), Code.InvalidArgument],
  [
    'occurred_at 10 minutes ahead',
    (k) => trackUsage(k, { occurredAt: timestampFromMs(Date.now() + 10 * 60_000) }),
    Code.InvalidArgument,
  ],
  [
    'occurred_at 36 days back',
    (k) => trackUsage(k, { occurredAt: timestampFromMs(Date.now() - 36 * 86_400_000) }),
    Code.InvalidArgument,
  ],
  ['an unknown feature', (k) => trackUsage(k, { feature: 'nope' }), Code.NotFound],
  [
    'a feature that is not metered',
    (k) => trackUsage(k, { feature: 'reports' }),
    Code.FailedPrecondition,
  ],
  [
    'enforce past the balance',
    (k) => trackUsage(k, { amount: 101n, enforce: true }),
    Code.FailedPrecondition,
  ],
];

for (const [name, call, code] of usageRefusals) {
  rpcTest(`TrackUsage refused, nothing recorded: ${name}`, async (t, run) => {
    const keys = usageSetUp(run);
    t.is(await codeOf(call(keys)), code);
    t.deepEqual(run.world.usage.tracked, []);
  });
}

rpcTest('TrackUsage refused: a customer token cannot record usage', async (t, run) => {
  const keys = usageSetUp(run);
  const { token } = await keys.client.issueCustomerToken(
    { customerId: 'cust_1' },
    bearer(keys.reader),
  );
  t.is(await codeOf(trackUsage(keys, {}, token)), Code.PermissionDenied);
  t.deepEqual(run.world.usage.tracked, []);
});

interface ReserveOverrides {
  readonly feature?: string;
  readonly amount?: bigint;
  readonly idempotencyKey?: string;
  readonly ttl?: { seconds: bigint; nanos: number };
}
const reserveWith = (k: UsageKeys, overrides: ReserveOverrides, token = k.writer) =>
  k.client.reserveUsage(
    { customerId: 'cust_1', feature: 'api_calls', amount: 1n, idempotencyKey: 'r', ...overrides },
    bearer(token),
  );
const reserve = (k: UsageKeys, amount = 30n, idempotencyKey = 'r1', token = k.writer) =>
  reserveWith(k, { amount, idempotencyKey }, token);

rpcTest(
  'ReserveUsage holds an amount, CommitReservation records the final amount, ReleaseReservation ends one without usage',
  async (t, run) => {
    const keys = usageSetUp(run);
    const held = await reserve(keys, 30n, 'r1');
    t.regex(held.reservationId, /^rsv_/);
    t.truthy(held.expiresAt);
    t.like(held.entitlement, { feature: 'api_calls', usage: 0n, balance: 70n, reserved: 30n });
    t.like(run.world.usage.reservations.get(held.reservationId), {
      projectId: 'p1',
      amount: 30,
      ttlMs: 300_000,
      idempotencyKey: 'r1',
    });
    const committed = await keys.client.commitReservation(
      { customerId: 'cust_1', reservationId: held.reservationId, finalAmount: 12n },
      bearer(keys.writer),
    );
    t.regex(committed.usageId, /^usg_/);
    t.like(committed.entitlement, { usage: 12n, balance: 88n, reserved: 0n, credits: 0n });
    const second = await reserve(keys, 5n, 'r2');
    const released = await keys.client.releaseReservation(
      { customerId: 'cust_1', reservationId: second.reservationId },
      bearer(keys.writer),
    );
    t.like(released.entitlement, { usage: 12n, balance: 88n, reserved: 0n });
    t.is(run.world.usage.reservations.get(second.reservationId)?.state, 'released');
  },
);

rpcTest('CommitReservation without final_amount commits the amount held', async (t, run) => {
  const keys = usageSetUp(run);
  const held = await reserve(keys, 9n);
  await keys.client.commitReservation(
    { customerId: 'cust_1', reservationId: held.reservationId },
    bearer(keys.writer),
  );
  t.like(run.world.usage.reservations.get(held.reservationId), { state: 'committed', final: 9 });
});

const rsvId = `rsv_${'0'.repeat(31)}1`;
const reservationRefusals: Array<[string, (k: UsageKeys) => Promise<unknown>, Code]> = [
  ['a zero amount', (k) => reserve(k, 0n), Code.InvalidArgument],
  ['a negative amount', (k) => reserve(k, -2n), Code.InvalidArgument],
  ['an amount over 1e9', (k) => reserve(k, 1_000_000_001n), Code.InvalidArgument],
  ['no idempotency key', (k) => reserve(k, 1n, ''), Code.InvalidArgument],
  ['a ttl of 0', (k) => reserveWith(k, { ttl: { seconds: 0n, nanos: 0 } }), Code.InvalidArgument],
  [
    'a ttl over 24 hours',
    (k) => reserveWith(k, { ttl: { seconds: 86_401n, nanos: 0 } }),
    Code.InvalidArgument,
  ],
  ['an unknown feature', (k) => reserveWith(k, { feature: 'nope' }), Code.NotFound],
  [
    'a feature that is not metered',
    (k) => reserveWith(k, { feature: 'reports' }),
    Code.FailedPrecondition,
  ],
  ['past the balance', (k) => reserve(k, 101n), Code.FailedPrecondition],
  [
    'a commit of a malformed reservation id',
    (k) =>
      k.client.commitReservation(
        { customerId: 'cust_1', reservationId: 'rsv_x' },
        bearer(k.writer),
      ),
    Code.InvalidArgument,
  ],
  [
    'a commit with a negative final_amount',
    (k) =>
      k.client.commitReservation(
        { customerId: 'cust_1', reservationId: rsvId, finalAmount: -1n },
        bearer(k.writer),
      ),
    Code.InvalidArgument,
  ],
  [
    'a commit of an unknown reservation',
    (k) =>
      k.client.commitReservation({ customerId: 'cust_1', reservationId: rsvId }, bearer(k.writer)),
    Code.NotFound,
  ],
  [
    'a release without a reservation id',
    (k) =>
      k.client.releaseReservation({ customerId: 'cust_1', reservationId: '' }, bearer(k.writer)),
    Code.InvalidArgument,
  ],
  [
    'a release of an unknown reservation',
    (k) =>
      k.client.releaseReservation({ customerId: 'cust_1', reservationId: rsvId }, bearer(k.writer)),
    Code.NotFound,
  ],
];

for (const [name, call, code] of reservationRefusals) {
  rpcTest(`reservation RPCs refused, nothing held: ${name}`, async (t, run) => {
    const keys = usageSetUp(run);
    t.is(await codeOf(call(keys)), code);
    t.is(run.world.usage.reservations.size, 0);
  });
}

rpcTest(
  'the reservation RPCs need usage:write; a reservation of another customer is not found',
  async (t, run) => {
    const keys = usageSetUp(run);
    const admin = run.world.keys.add('p1', ['admin']);
    const { token } = await keys.client.issueCustomerToken(
      { customerId: 'cust_1' },
      bearer(keys.reader),
    );
    for (const key of [keys.reader, admin, token]) {
      t.is(await codeOf(reserve(keys, 1n, 'denied', key)), Code.PermissionDenied);
    }
    const held = await reserve(keys, 10n);
    const ref = { customerId: 'cust_1', reservationId: held.reservationId };
    for (const key of [keys.reader, admin, token]) {
      t.is(await codeOf(keys.client.commitReservation(ref, bearer(key))), Code.PermissionDenied);
      t.is(await codeOf(keys.client.releaseReservation(ref, bearer(key))), Code.PermissionDenied);
    }
    const other = { customerId: 'cust_2', reservationId: held.reservationId };
    t.is(await codeOf(keys.client.commitReservation(other, bearer(keys.writer))), Code.NotFound);
    t.is(await codeOf(keys.client.releaseReservation(other, bearer(keys.writer))), Code.NotFound);
    const otherProject = run.world.keys.add('p2', ['usage:write']);
    t.is(await codeOf(keys.client.commitReservation(ref, bearer(otherProject))), Code.NotFound);
    t.is(run.world.usage.reservations.get(held.reservationId)?.state, 'held');
  },
);
