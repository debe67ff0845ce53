/**
 * AdminService's credit RPCs and credit packs in the catalog, in memory and
 * over a port (rpc-harness.ts): GrantCredits, ListCredits and
 * RevokeCredits as an operator sees them, the refusals of each, and
 * SetCatalog's credit_pack rules.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Code } from '@connectrpc/connect';
import {
  AdminService,
  type CatalogEntrySchema,
  CreditSource,
  FeatureKind,
  OverageMode,
} from '../../gen/billing/v1/admin_pb.js';
import { codeOf } from '../helpers/rpc.js';
import { bearer, type RpcRun, rpcTest } from './rpc-harness.js';

const reason = 'ticket 77';

function setUp(run: RpcRun) {
  run.world.projects.add('p1', 'Acme');
  run.world.projects.add('p2', 'Globex');
  return {
    client: run.client(AdminService),
    admin: run.world.keys.add('p1', ['admin']),
    other: run.world.keys.add('p2', ['admin']),
    reader: run.world.keys.add('p1', ['entitlements:read']),
  };
}

rpcTest(
  'GrantCredits answers the lot: amount, remaining, expiry, reason and actor',
  async (t, run) => {
    const { client, admin } = setUp(run);
    const expiresAt = timestampFromDate(new Date(Date.now() + 3600_000));
    const { credit } = await client.grantCredits(
      { customerId: 'cust_1', feature: 'api_calls', amount: 500n, expiresAt, reason },
      bearer(admin),
    );
    t.like(credit, {
      customerId: 'cust_1',
      feature: 'api_calls',
      source: CreditSource.GRANT,
      amount: 500n,
      remaining: 500n,
      reason,
    });
    t.regex(credit?.id ?? '', /^crd_/);
    t.is(credit?.expiresAt?.seconds, expiresAt.seconds);
    const [key] = [...run.world.keys.records.values()];
    t.is(credit?.actor, key?._id);
  },
);

rpcTest(
  'ListCredits pages through granted and bought lots; ended ones on request',
  async (t, run) => {
    const { client, admin } = setUp(run);
    const ids: string[] = [];
    for (const amount of [10n, 20n, 30n]) {
      const { credit } = await client.grantCredits(
        { customerId: 'cust_1', feature: 'api_calls', amount, reason },
        bearer(admin),
      );
      ids.push(credit?.id ?? '');
    }
    run.world.credits.addPack('p1', 'cust_1', 'cs_test_1:price_pack:api_calls', 1000);
    await client.revokeCredits({ creditId: ids[0] ?? '', reason }, bearer(admin));
    const seen: string[] = [];
    let pageToken = '';
    do {
      const page = await client.listCredits(
        { customerId: 'cust_1', pageSize: 2, pageToken },
        bearer(admin),
      );
      t.true(page.credits.length <= 2);
      seen.push(...page.credits.map((c) => c.id));
      pageToken = page.nextPageToken;
    } while (pageToken);
    t.deepEqual(seen, [ids[1], ids[2], 'cs_test_1:price_pack:api_calls']);
    const all = await client.listCredits(
      { customerId: 'cust_1', includeEnded: true },
      bearer(admin),
    );
    t.deepEqual(
      all.credits.map((c) => [c.id, c.source]),
      [
        [ids[0], CreditSource.GRANT],
        [ids[1], CreditSource.GRANT],
        [ids[2], CreditSource.GRANT],
        ['cs_test_1:price_pack:api_calls', CreditSource.PACK],
      ],
    );
    const filtered = await client.listCredits(
      { customerId: 'cust_1', feature: 'ai_tokens' },
      bearer(admin),
    );
    t.deepEqual(filtered.credits, []);
  },
);

rpcTest('RevokeCredits ends the lot; revoking again answers the same lot', async (t, run) => {
  const { client, admin } = setUp(run);
  const { credit } = await client.grantCredits(
    { customerId: 'cust_1', feature: 'api_calls', amount: 5n, reason },
    bearer(admin),
  );
  const first = await client.revokeCredits(
    { creditId: credit?.id ?? '', reason: 'mistake' },
    bearer(admin),
  );
  t.like(first.credit, { remaining: 0n, revokeReason: 'mistake' });
  t.truthy(first.credit?.revokedAt);
  const again = await client.revokeCredits(
    { creditId: credit?.id ?? '', reason: 'again' },
    bearer(admin),
  );
  t.deepEqual(again.credit, first.credit);
});

rpcTest('GrantCredits retried with its idempotency key grants once', async (t, run) => {
  const { client, admin } = setUp(run);
  const request = {
    customerId: 'cust_1',
    feature: 'api_calls',
    amount: 7n,
    reason,
    idempotencyKey: 'credit-1',
  };
  const first = await client.grantCredits(request, bearer(admin));
  const again = await client.grantCredits(request, bearer(admin));
  t.is(again.credit?.id, first.credit?.id);
  t.is(run.world.credits.lots.size, 1);
  t.is(
    await codeOf(client.grantCredits({ ...request, amount: 8n }, bearer(admin))),
    Code.FailedPrecondition,
    'the same key with another request',
  );
});

type Keys = ReturnType<typeof setUp>;
const past = timestampFromDate(new Date('2020-01-01T00:00:00Z'));
const grant = { customerId: 'c', feature: 'api_calls', amount: 1n, reason };

const refusals: ReadonlyArray<[string, (k: Keys) => Promise<unknown>, Code]> = [
  ...[0n, -1n, 1_000_000_001n].map((amount): [string, (k: Keys) => Promise<unknown>, Code] => [
    `GrantCredits of ${amount}`,
    (k) => k.client.grantCredits({ ...grant, amount }, bearer(k.admin)),
    Code.InvalidArgument,
  ]),
  [
    'GrantCredits that expired already',
    (k) => k.client.grantCredits({ ...grant, expiresAt: past }, bearer(k.admin)),
    Code.InvalidArgument,
  ],
  [
    'GrantCredits without a reason',
    (k) => k.client.grantCredits({ ...grant, reason: '' }, bearer(k.admin)),
    Code.InvalidArgument,
  ],
  [
    'GrantCredits without a customer',
    (k) => k.client.grantCredits({ ...grant, customerId: '' }, bearer(k.admin)),
    Code.InvalidArgument,
  ],
  [
    'GrantCredits of a feature not in the catalog',
    (k) => k.client.grantCredits({ ...grant, feature: 'nope' }, bearer(k.admin)),
    Code.NotFound,
  ],
  [
    'GrantCredits of a feature that is not metered',
    (k) => k.client.grantCredits({ ...grant, feature: 'sso' }, bearer(k.admin)),
    Code.FailedPrecondition,
  ],
  [
    'GrantCredits with a read-only key',
    (k) => k.client.grantCredits(grant, bearer(k.reader)),
    Code.PermissionDenied,
  ],
  [
    'RevokeCredits with a malformed credit id',
    (k) => k.client.revokeCredits({ creditId: 'gr_000000000001', reason }, bearer(k.admin)),
    Code.InvalidArgument,
  ],
  [
    'RevokeCredits of an unknown credit',
    (k) => k.client.revokeCredits({ creditId: 'crd_000000000404', reason }, bearer(k.admin)),
    Code.NotFound,
  ],
  [
    'RevokeCredits without a reason',
    (k) => k.client.revokeCredits({ creditId: 'crd_000000000001' }, bearer(k.admin)),
    Code.InvalidArgument,
  ],
  [
    'ListCredits without a customer',
    (k) => k.client.listCredits({}, bearer(k.admin)),
    Code.InvalidArgument,
  ],
  [
    'ListCredits with a page over 500',
    (k) => k.client.listCredits({ customerId: 'c', pageSize: 501 }, bearer(k.admin)),
    Code.InvalidArgument,
  ],
  [
    'ListCredits with a page token it never issued',
    (k) =>
      k.client.listCredits(
        { customerId: 'c', pageToken: Buffer.from('gr_1').toString('base64url') },
        bearer(k.admin),
      ),
    Code.InvalidArgument,
  ],
];

for (const [name, call, code] of refusals) {
  rpcTest(`refused: ${name}`, async (t, run) => {
    t.is(await codeOf(call(setUp(run))), code);
    t.is(run.world.credits.lots.size, 0, 'nothing granted');
  });
}

rpcTest("RevokeCredits of another project's credit is NOT_FOUND and keeps it", async (t, run) => {
  const { client, admin, other } = setUp(run);
  const { credit } = await client.grantCredits(grant, bearer(other));
  const id = credit?.id ?? '';
  t.is(await codeOf(client.revokeCredits({ creditId: id, reason }, bearer(admin))), Code.NotFound);
  const listed = await client.listCredits({ customerId: 'c' }, bearer(other));
  t.deepEqual(
    listed.credits.map((c) => c.id),
    [id],
  );
  t.deepEqual((await client.listCredits({ customerId: 'c' }, bearer(admin))).credits, []);
});

rpcTest(
  'RevokeCredits of a pack lot is FAILED_PRECONDITION: refund the purchase',
  async (t, run) => {
    const { client, admin } = setUp(run);
    run.world.credits.addPack('p1', 'cust_1', 'cs_test_9:price_pack:api_calls', 100);
    const error = await t.throwsAsync(
      client.revokeCredits({ creditId: 'cs_test_9:price_pack:api_calls', reason }, bearer(admin)),
    );
    t.like(error, { code: Code.FailedPrecondition });
    t.regex(error?.message ?? '', /refund/);
  },
);

type CatalogEntryInit = MessageInitShape<typeof CatalogEntrySchema>;

const packFeature = {
  feature: 'api_calls',
  kind: FeatureKind.METERED,
  metered: {},
  creditPack: { amountPerUnit: 1000n, expiresAfterDays: 90 },
};

rpcTest(
  'SetCatalog keeps a credit pack on a metered feature; GetCatalog answers it',
  async (t, run) => {
    const { client, admin } = setUp(run);
    const entries = [
      {
        stripeId: 'price_plan',
        features: [
          { feature: 'api_calls', kind: FeatureKind.METERED, metered: { allowance: 100n } },
        ],
      },
      { stripeId: 'price_pack_1k', features: [packFeature] },
    ];
    const set = await client.setCatalog({ entries, reason }, bearer(admin));
    const got = await client.getCatalog({}, bearer(admin));
    for (const answer of [set.entries, got.entries]) {
      t.is(answer[0]?.features[0]?.creditPack, undefined);
      t.like(answer[1]?.features[0]?.creditPack, { amountPerUnit: 1000n, expiresAfterDays: 90 });
      t.is(answer[1]?.features[0]?.metered?.allowance, 0n);
    }
  },
);

const packRefusals: ReadonlyArray<[string, CatalogEntryInit[], string]> = [
  [
    'a credit pack on a boolean feature',
    [
      {
        stripeId: 'price_a',
        features: [{ ...packFeature, kind: FeatureKind.BOOLEAN, metered: undefined }],
      },
    ],
    'entries[0].features[0].credit_pack',
  ],
  [
    'a credit pack on a feature of unspecified kind',
    [
      {
        stripeId: 'price_a',
        features: [{ feature: 'x', creditPack: { amountPerUnit: 1n } }],
      },
    ],
    'entries[0].features[0].credit_pack',
  ],
  ...[0n, -5n, 1_000_000_001n].map((amountPerUnit): [string, CatalogEntryInit[], string] => [
    `a credit pack of ${amountPerUnit} per unit`,
    [
      {
        stripeId: 'price_a',
        features: [{ ...packFeature, creditPack: { amountPerUnit, expiresAfterDays: 0 } }],
      },
    ],
    'entries[0].features[0].credit_pack.amount_per_unit',
  ]),
  [
    'a credit pack expiring after -1 days',
    [
      {
        stripeId: 'price_a',
        features: [{ ...packFeature, creditPack: { amountPerUnit: 1n, expiresAfterDays: -1 } }],
      },
    ],
    'entries[0].features[0].credit_pack.expires_after_days',
  ],
  [
    'a credit pack with a period allowance',
    [{ stripeId: 'price_a', features: [{ ...packFeature, metered: { allowance: 10n } }] }],
    'entries[0].features[0].metered.allowance',
  ],
  [
    'a credit pack whose overage differs from the plan of its feature',
    [
      {
        stripeId: 'price_plan',
        features: [{ feature: 'api_calls', kind: FeatureKind.METERED, metered: { allowance: 1n } }],
      },
      {
        stripeId: 'price_pack',
        features: [{ ...packFeature, metered: { overage: OverageMode.ALLOW } }],
      },
    ],
    'entries[1].features[0].metered.overage',
  ],
];

for (const [name, entries, field] of packRefusals) {
  rpcTest(`SetCatalog refuses ${name}, naming ${field}`, async (t, run) => {
    const { client, admin } = setUp(run);
    const error = await t.throwsAsync(client.setCatalog({ entries, reason }, bearer(admin)));
    t.like(error, { code: Code.InvalidArgument });
    t.true(error?.message.includes(`${field}:`), error?.message);
    t.deepEqual((await client.getCatalog({}, bearer(admin))).entries, []);
  });
}
