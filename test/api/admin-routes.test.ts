/**
 * AdminService, every RPC in memory and over a port (rpc-harness.ts): what
 * an operator sees for projects, API keys, the catalog, grants, the audit
 * log, reconciliation runs and webhook events; then one refusal per RPC.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Code } from '@connectrpc/connect';
import {
  AdminService,
  type CatalogEntrySchema,
  FeatureKind,
  OverageMode,
  ReconciliationState,
  ResetInterval,
  Scope,
  WebhookEventStatus,
} from '../../gen/billing/v1/admin_pb.js';
import { codeOf } from '../helpers/rpc.js';
import { bearer, type RpcRun, rpcTest } from './rpc-harness.js';

const reason = 'ticket 42';

function adminSetUp(run: RpcRun) {
  run.world.projects.add('p1', 'Acme');
  return {
    client: run.client(AdminService),
    admin: run.world.keys.add('p1', ['admin']),
    reader: run.world.keys.add('p1', ['entitlements:read']),
    platform: run.world.keys.add('platform', ['platform:admin']),
  };
}

rpcTest('CreateProject makes a project whose first admin key works', async (t, run) => {
  const { client, platform } = adminSetUp(run);
  const created = await client.createProject({ name: 'Globex', reason }, bearer(platform));
  t.is(created.project?.name, 'Globex');
  t.deepEqual(created.adminKey?.scopes, [
    Scope.ENTITLEMENTS_READ,
    Scope.CHECKOUT_WRITE,
    Scope.USAGE_WRITE,
    Scope.ADMIN,
  ]);
  const own = await client.getProject({}, bearer(created.adminKeySecret));
  t.is(own.project?.id, created.project?.id);
});

rpcTest('GetProject shows the caller project, and whether its secrets are set', async (t, run) => {
  const { client, admin } = adminSetUp(run);
  const { project } = await client.getProject({}, bearer(admin));
  t.like(project, { id: 'p1', name: 'Acme', hasStripeSecretKey: false });
  t.is(project?.gracePeriod?.seconds, 3n * 24n * 3600n);
});

rpcTest('UpdateProject and RotateWebhookSecret change the project', async (t, run) => {
  const { client, admin } = adminSetUp(run);
  const updated = await client.updateProject(
    { name: 'Acme Corp', stripeSecretKey: 'sk_test_0123456789abcdef', reason },
    bearer(admin),
  );
  t.like(updated.project, {
    name: 'Acme Corp',
    hasStripeSecretKey: true,
    stripeSecretKeyLast4: 'cdef',
  });
  const rotated = await client.rotateWebhookSecret(
    { webhookSigningSecret: 'whsec_0123456789abcdef', reason },
    bearer(admin),
  );
  t.true(rotated.project?.hasWebhookSigningSecret);
});

rpcTest(
  'CreateApiKey, ListApiKeys and RevokeApiKey: a revoked key stops working',
  async (t, run) => {
    const { client, admin } = adminSetUp(run);
    const created = await client.createApiKey(
      { name: 'ci', scopes: [Scope.ADMIN], reason },
      bearer(admin),
    );
    const listed = await client.listApiKeys({}, bearer(created.secret));
    t.true(listed.keys.some((key) => key.id === created.key?.id && key.name === 'ci'));
    const revoked = await client.revokeApiKey(
      { keyId: created.key?.id ?? '', reason },
      bearer(admin),
    );
    t.truthy(revoked.key?.revokedAt);
    t.is(await codeOf(client.listApiKeys({}, bearer(created.secret))), Code.Unauthenticated);
  },
);

rpcTest('CreateApiKey makes a usage:write key and ListApiKeys shows its scope', async (t, run) => {
  const { client, admin } = adminSetUp(run);
  const created = await client.createApiKey(
    { name: 'meter', scopes: [Scope.USAGE_WRITE], reason },
    bearer(admin),
  );
  t.deepEqual(created.key?.scopes, [Scope.USAGE_WRITE]);
  const { keys } = await client.listApiKeys({}, bearer(admin));
  t.deepEqual(keys.find((key) => key.name === 'meter')?.scopes, [Scope.USAGE_WRITE]);
});

rpcTest('CreateApiKey retried with its idempotency key answers the same key', async (t, run) => {
  const { client, admin } = adminSetUp(run);
  const request = { name: 'ci', scopes: [Scope.ADMIN], reason, idempotencyKey: 'key-1' };
  const first = await client.createApiKey(request, bearer(admin));
  const again = await client.createApiKey(request, bearer(admin));
  t.is(again.secret, first.secret);
  const { keys } = await client.listApiKeys({}, bearer(admin));
  t.is(keys.filter((key) => key.name === 'ci').length, 1);
});

rpcTest('SetCatalog then GetCatalog: the features each price gives', async (t, run) => {
  const { client, admin } = adminSetUp(run);
  const entries = [
    { stripeId: 'price_pro', features: [{ feature: 'seats', limit: 5n, limitPerUnit: true }] },
  ];
  const set = await client.setCatalog({ entries, reason }, bearer(admin));
  t.is(set.entries[0]?.stripeId, 'price_pro');
  const got = await client.getCatalog({}, bearer(admin));
  t.like(got.entries[0]?.features[0], { feature: 'seats', limit: 5n, limitPerUnit: true });
});

rpcTest(
  'a limit on one price and none on another reads back as limits and writes back as read',
  async (t, run) => {
    const { client, admin } = adminSetUp(run);
    // Kinds unspecified, as before kinds existed: seats is a limit on pro, unlimited on enterprise.
    const entries = [
      { stripeId: 'price_pro', features: [{ feature: 'seats', limit: 5n }] },
      { stripeId: 'price_ent', features: [{ feature: 'seats' }, { feature: 'sso' }] },
    ];
    await client.setCatalog({ entries, reason }, bearer(admin));
    const got = await client.getCatalog({}, bearer(admin));
    t.deepEqual(
      got.entries.flatMap((e) => e.features.map((f) => [e.stripeId, f.feature, f.kind, f.limit])),
      [
        ['price_pro', 'seats', FeatureKind.LIMIT, 5n],
        ['price_ent', 'seats', FeatureKind.LIMIT, undefined],
        ['price_ent', 'sso', FeatureKind.BOOLEAN, undefined],
      ],
    );
    const again = await client.setCatalog({ entries: got.entries, reason }, bearer(admin));
    t.deepEqual(again.entries, got.entries, 'what GetCatalog answered is a valid catalog');
  },
);

rpcTest(
  'SetCatalog keeps each feature kind and metered rules; GetCatalog answers them',
  async (t, run) => {
    const { client, admin } = adminSetUp(run);
    const metered = {
      allowance: 10_000n,
      allowancePerUnit: true,
      stripeMeterEventName: 'api.calls',
    };
    const entries = [
      {
        stripeId: 'price_pro',
        features: [
          { feature: 'api_calls', kind: FeatureKind.METERED, metered },
          { feature: 'sso', kind: FeatureKind.BOOLEAN },
          { feature: 'seats', kind: FeatureKind.LIMIT, limit: 5n },
          { feature: 'reports' },
          { feature: 'projects', limit: 3n },
        ],
      },
    ];
    const set = await client.setCatalog({ entries, reason }, bearer(admin));
    const got = await client.getCatalog({}, bearer(admin));
    for (const answer of [set.entries, got.entries]) {
      const [apiCalls, sso, seats, reports, projects] = answer[0]?.features ?? [];
      t.like(apiCalls, { kind: FeatureKind.METERED, limit: undefined, limitPerUnit: false });
      // Unspecified reset and overage are answered as what applies.
      t.like(apiCalls?.metered, {
        ...metered,
        reset: ResetInterval.BILLING_PERIOD,
        overage: OverageMode.BLOCK,
      });
      t.like(sso, { kind: FeatureKind.BOOLEAN, metered: undefined });
      t.like(seats, { kind: FeatureKind.LIMIT, limit: 5n });
      // An unspecified kind is read as before kinds existed.
      t.like(reports, { kind: FeatureKind.BOOLEAN, limit: undefined });
      t.like(projects, { kind: FeatureKind.LIMIT, limit: 3n });
    }
  },
);

rpcTest(
  'SetCatalog: a metered feature on two prices may differ in allowance only',
  async (t, run) => {
    const { client, admin } = adminSetUp(run);
    const rules = { reset: ResetInterval.MONTH, overage: OverageMode.ALLOW };
    const feature = (allowance: bigint) => ({
      feature: 'api_calls',
      kind: FeatureKind.METERED,
      metered: { ...rules, allowance },
    });
    const entries = [
      { stripeId: 'price_basic', features: [feature(1_000n)] },
      { stripeId: 'price_pro', features: [feature(50_000n)] },
      { stripeId: 'price_a', features: [{ feature: 'seats', limit: 5n }] },
      { stripeId: 'price_b', features: [{ feature: 'seats' }] },
    ];
    const { entries: saved } = await client.setCatalog({ entries, reason }, bearer(admin));
    t.is(saved[1]?.features[0]?.metered?.allowance, 50_000n);
    t.is(saved[1]?.features[0]?.metered?.reset, ResetInterval.MONTH);
    t.is(saved[1]?.features[0]?.metered?.overage, OverageMode.ALLOW);
  },
);

rpcTest('GrantEntitlement, ListGrants and RevokeGrant', async (t, run) => {
  const { client, admin } = adminSetUp(run);
  const { grant } = await client.grantEntitlement(
    { customerId: 'cust_1', feature: 'sso', limit: 3n, reason },
    bearer(admin),
  );
  t.like(grant, { customerId: 'cust_1', feature: 'sso', limit: 3n, reason });
  const listed = await client.listGrants({ customerId: 'cust_1' }, bearer(admin));
  t.deepEqual(
    listed.grants.map((g) => g.id),
    [grant?.id],
  );
  const revoked = await client.revokeGrant(
    { grantId: grant?.id ?? '', reason: 'refunded' },
    bearer(admin),
  );
  t.like(revoked.grant, { revokeReason: 'refunded' });
  t.truthy(revoked.grant?.revokedAt);
});

rpcTest(
  'TriggerReconciliation queues a run that Get and List show, and is audited',
  async (t, run) => {
    const { client, admin } = adminSetUp(run);
    const { run: started } = await client.triggerReconciliation(
      { dryRun: true, reason },
      bearer(admin),
    );
    t.like(started, { dryRun: true, state: ReconciliationState.QUEUED });
    const got = await client.getReconciliationRun({ runId: started?.id ?? '' }, bearer(admin));
    t.is(got.run?.id, started?.id);
    const listed = await client.listReconciliationRuns({}, bearer(admin));
    t.deepEqual(
      listed.runs.map((r) => r.id),
      [started?.id],
    );
    const audit = await client.listAuditLog({ action: 'reconciliation.trigger' }, bearer(admin));
    t.like(audit.entries[0], { target: `reconciliation_run:${started?.id}`, reason });
    t.like(JSON.parse(audit.entries[0]?.afterJson ?? '{}'), { dry_run: true, started: true });
  },
);

rpcTest('ListAuditLog shows entries newest first, filtered', async (t, run) => {
  const { client, admin } = adminSetUp(run);
  for (const action of ['grant.create', 'grant.revoke', 'grant.create']) {
    await run.world.auditLog.append({
      projectId: 'p1',
      actor: 'op',
      action,
      target: 'grant:gr_1',
      before: null,
      after: null,
      reason,
      time: new Date(),
    });
  }
  const all = await client.listAuditLog({ pageSize: 2 }, bearer(admin));
  t.deepEqual(
    all.entries.map((e) => e.action),
    ['grant.create', 'grant.revoke'],
  );
  t.not(all.nextPageToken, '');
  const created = await client.listAuditLog({ action: 'grant.create' }, bearer(admin));
  t.is(created.entries.length, 2);
});

rpcTest('ListWebhookEvents and ReplayWebhookEvent: a dead event replayed', async (t, run) => {
  const { client, admin } = adminSetUp(run);
  run.world.webhookEvents.add('p1', 'evt_dead');
  run.world.webhookEvents.add('p1', 'evt_done', 'processed');
  const dead = await client.listWebhookEvents({ status: WebhookEventStatus.DEAD }, bearer(admin));
  t.deepEqual(
    dead.events.map((e) => [e.eventId, e.replayable]),
    [['evt_dead', true]],
  );
  const { event } = await client.replayWebhookEvent({ eventId: 'evt_dead', reason }, bearer(admin));
  t.like(event, { eventId: 'evt_dead', status: WebhookEventStatus.PROCESSED, replayable: false });
  t.truthy(event?.processedAt);
});

rpcTest('GrantEntitlement accepts an expiry in the future', async (t, run) => {
  const { client, admin } = adminSetUp(run);
  const expiresAt = timestampFromDate(new Date(Date.now() + 3600_000));
  const { grant } = await client.grantEntitlement(
    { customerId: 'cust_1', feature: 'sso', expiresAt, reason },
    bearer(admin),
  );
  t.is(grant?.expiresAt?.seconds, expiresAt.seconds);
});

rpcTest('FindCustomers finds a link by either id, in the caller project only', async (t, run) => {
  const { client, admin } = adminSetUp(run);
  const linkedAt = new Date('2026-11-02T10:00:00Z');
  const link = { customer_id: 'user_7', stripe_customer_id: 'cus_7', created_at: linkedAt };
  run.world.customers.links.push(
    { project_id: 'p1', ...link },
    { project_id: 'p2', customer_id: 'user_8', stripe_customer_id: 'cus_8', created_at: linkedAt },
  );
  for (const query of ['user_7', 'cus_7']) {
    const { customers } = await client.findCustomers({ query }, bearer(admin));
    t.deepEqual(
      customers.map((c) => [c.customerId, c.stripeCustomerId, c.linkedAt?.seconds]),
      [['user_7', 'cus_7', BigInt(linkedAt.getTime() / 1000)]],
      query,
    );
  }
  const foreign = await client.findCustomers({ query: 'cus_8' }, bearer(admin));
  t.deepEqual(foreign.customers, [], "another project's customer is not found");
});

/** A call made with the test's client and keys (admin, reader: entitlements:read, platform). */
type Refusal = (k: ReturnType<typeof adminSetUp>) => Promise<unknown>;

const past = timestampFromDate(new Date('2020-01-01T00:00:00Z'));
const catalogEntry = { stripeId: 'price_pro', features: [{ feature: 'seats' }] };
const foreignToken = Buffer.from('not a run id').toString('base64url');

const refusals: ReadonlyArray<[string, Refusal, Code]> = [
  [
    'CreateProject with a project admin key',
    (k) => k.client.createProject({ name: 'x', reason }, bearer(k.admin)),
    Code.PermissionDenied,
  ],
  ['GetProject without a key', (k) => k.client.getProject({}), Code.Unauthenticated],
  [
    'UpdateProject with nothing to change',
    (k) => k.client.updateProject({ reason }, bearer(k.admin)),
    Code.InvalidArgument,
  ],
  [
    'RotateWebhookSecret with a Stripe key instead',
    (k) =>
      k.client.rotateWebhookSecret(
        { webhookSigningSecret: 'sk_test_0123456789', reason },
        bearer(k.admin),
      ),
    Code.InvalidArgument,
  ],
  [
    'CreateApiKey without scopes',
    (k) => k.client.createApiKey({ name: 'ci', reason }, bearer(k.admin)),
    Code.InvalidArgument,
  ],
  [
    'ListApiKeys with a read-only key',
    (k) => k.client.listApiKeys({}, bearer(k.reader)),
    Code.PermissionDenied,
  ],
  [
    'RevokeApiKey with a malformed key id',
    (k) => k.client.revokeApiKey({ keyId: 'bk_secret', reason }, bearer(k.admin)),
    Code.InvalidArgument,
  ],
  [
    'GetCatalog with a read-only key',
    (k) => k.client.getCatalog({}, bearer(k.reader)),
    Code.PermissionDenied,
  ],
  [
    'SetCatalog with a price listed twice',
    (k) => k.client.setCatalog({ entries: [catalogEntry, catalogEntry], reason }, bearer(k.admin)),
    Code.InvalidArgument,
  ],
  [
    'GrantEntitlement that expired already',
    (k) =>
      k.client.grantEntitlement(
        { customerId: 'c', feature: 'f', expiresAt: past, reason },
        bearer(k.admin),
      ),
    Code.InvalidArgument,
  ],
  [
    'RevokeGrant with a malformed grant id',
    (k) => k.client.revokeGrant({ grantId: 'nope', reason }, bearer(k.admin)),
    Code.InvalidArgument,
  ],
  [
    'ListGrants with a page over 500',
    (k) => k.client.listGrants({ pageSize: 501 }, bearer(k.admin)),
    Code.InvalidArgument,
  ],
  [
    'ListAuditLog ending before it starts',
    (k) =>
      k.client.listAuditLog(
        { startTime: timestampFromDate(new Date()), endTime: past },
        bearer(k.admin),
      ),
    Code.InvalidArgument,
  ],
  [
    'TriggerReconciliation without a reason',
    (k) => k.client.triggerReconciliation({ dryRun: true }, bearer(k.admin)),
    Code.InvalidArgument,
  ],
  [
    'GetReconciliationRun with a malformed run id',
    (k) => k.client.getReconciliationRun({ runId: 'run-1' }, bearer(k.admin)),
    Code.InvalidArgument,
  ],
  [
    'ListReconciliationRuns with a page token it never issued',
    (k) => k.client.listReconciliationRuns({ pageToken: foreignToken }, bearer(k.admin)),
    Code.InvalidArgument,
  ],
  [
    'FindCustomers without a query',
    (k) => k.client.findCustomers({ query: '' }, bearer(k.admin)),
    Code.InvalidArgument,
  ],
  [
    'FindCustomers with a read-only key',
    (k) => k.client.findCustomers({ query: 'cus_1' }, bearer(k.reader)),
    Code.PermissionDenied,
  ],
  ['ListWebhookEvents without a key', (k) => k.client.listWebhookEvents({}), Code.Unauthenticated],
  [
    'ReplayWebhookEvent without a reason',
    (k) => k.client.replayWebhookEvent({ eventId: 'evt_1' }, bearer(k.admin)),
    Code.InvalidArgument,
  ],
];

for (const [name, call, code] of refusals) {
  rpcTest(`refused: ${name}`, async (t, run) => {
    t.is(await codeOf(call(adminSetUp(run))), code);
    t.deepEqual(run.world.auditLog.entries, []);
  });
}

type CatalogEntryInit = MessageInitShape<typeof CatalogEntrySchema>;

const meteredFeature = {
  feature: 'api_calls',
  kind: FeatureKind.METERED,
  metered: { allowance: 100n },
};

/** SetCatalog entries refused, and the field the refusal names. */
const catalogRefusals: ReadonlyArray<[string, CatalogEntryInit[], string]> = [
  [
    'a metered feature without its rules',
    [{ stripeId: 'price_a', features: [{ feature: 'x', kind: FeatureKind.METERED }] }],
    'entries[0].features[0].metered',
  ],
  [
    'a metered feature with a limit',
    [{ stripeId: 'price_a', features: [{ ...meteredFeature, limit: 5n }] }],
    'entries[0].features[0].limit',
  ],
  [
    'a metered feature with a per-unit limit',
    [{ stripeId: 'price_a', features: [{ ...meteredFeature, limitPerUnit: true }] }],
    'entries[0].features[0].limit_per_unit',
  ],
  ...[0n, -1n, 1_000_000_000_001n].map((allowance): [string, CatalogEntryInit[], string] => [
    `a metered allowance of ${allowance}`,
    [{ stripeId: 'price_a', features: [{ ...meteredFeature, metered: { allowance } }] }],
    'entries[0].features[0].metered.allowance',
  ]),
  ...['has space', 'x'.repeat(101), 'slash/name', 'ünï'].map(
    (name): [string, CatalogEntryInit[], string] => [
      `a meter event name ${name.slice(0, 12)}`,
      [
        {
          stripeId: 'price_a',
          features: [{ ...meteredFeature, metered: { allowance: 1n, stripeMeterEventName: name } }],
        },
      ],
      'entries[0].features[0].metered.stripe_meter_event_name',
    ],
  ),
  [
    'an unknown reset interval',
    [
      {
        stripeId: 'price_a',
        features: [{ ...meteredFeature, metered: { allowance: 1n, reset: 99 as ResetInterval } }],
      },
    ],
    'entries[0].features[0].metered.reset',
  ],
  [
    'an unknown overage mode',
    [
      {
        stripeId: 'price_a',
        features: [{ ...meteredFeature, metered: { allowance: 1n, overage: 9 as OverageMode } }],
      },
    ],
    'entries[0].features[0].metered.overage',
  ],
  [
    'an unknown feature kind',
    [{ stripeId: 'price_a', features: [{ feature: 'x', kind: 42 as FeatureKind }] }],
    'entries[0].features[0].kind',
  ],
  [
    'a boolean feature with a limit',
    [{ stripeId: 'price_a', features: [{ feature: 'x', kind: FeatureKind.BOOLEAN, limit: 1n }] }],
    'entries[0].features[0].limit',
  ],
  [
    'a boolean feature with metered rules',
    [{ stripeId: 'price_a', features: [{ ...meteredFeature, kind: FeatureKind.BOOLEAN }] }],
    'entries[0].features[0].metered',
  ],
  [
    'a limit feature with metered rules',
    [{ stripeId: 'price_a', features: [{ ...meteredFeature, kind: FeatureKind.LIMIT }] }],
    'entries[0].features[0].metered',
  ],
  [
    'metered rules on a feature of unspecified kind',
    [{ stripeId: 'price_a', features: [{ ...meteredFeature, kind: FeatureKind.UNSPECIFIED }] }],
    'entries[0].features[0].metered',
  ],
  [
    'one feature metered on one price and a limit on another',
    [
      { stripeId: 'price_a', features: [meteredFeature] },
      { stripeId: 'price_b', features: [{ feature: 'api_calls', limit: 5n }] },
    ],
    'entries[1].features[0].kind',
  ],
  [
    'one feature named boolean on one price and limit on another',
    [
      { stripeId: 'price_a', features: [{ feature: 'sso', kind: FeatureKind.BOOLEAN }] },
      { stripeId: 'price_b', features: [{ feature: 'sso', kind: FeatureKind.LIMIT }] },
    ],
    'entries[1].features[0].kind',
  ],
  ...(
    [
      ['reset', { reset: ResetInterval.DAY }],
      ['overage', { overage: OverageMode.ALLOW }],
      ['stripe_meter_event_name', { stripeMeterEventName: 'other' }],
    ] as const
  ).map(([rule, change]): [string, CatalogEntryInit[], string] => [
    `one metered feature with another ${rule} on another price`,
    [
      { stripeId: 'price_a', features: [meteredFeature] },
      {
        stripeId: 'price_b',
        features: [{ ...meteredFeature, metered: { ...meteredFeature.metered, ...change } }],
      },
    ],
    `entries[1].features[0].metered.${rule}`,
  ]),
];

for (const [name, entries, field] of catalogRefusals) {
  rpcTest(`SetCatalog refuses ${name}, naming ${field}`, async (t, run) => {
    const { client, admin } = adminSetUp(run);
    const error = await t.throwsAsync(client.setCatalog({ entries, reason }, bearer(admin)));
    t.like(error, { code: Code.InvalidArgument });
    t.true(error?.message.includes(`${field}:`), error?.message);
    t.deepEqual((await client.getCatalog({}, bearer(admin))).entries, []);
  });
}
