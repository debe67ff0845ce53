// needs: mongodb redis
/**
 * The customer timeline and ExplainEntitlement end to end: a grant, a
 * Stripe webhook and a revoke each leave an entry with its cause and the
 * set before and after; an expiry and a catalog change show as entries of
 * their own; explain answers as of the past and refuses the future and
 * customer tokens. And the property the issue asks for: over random
 * histories of grants, revokes, subscription webhooks, usage and time
 * passing, ExplainEntitlement at every instant a check was made answers
 * what CheckEntitlement answered then.
 */
import { randomUUID } from 'node:crypto';
import { type Timestamp, timestampDate, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Code, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { AdminService } from '../../gen/billing/v1/admin_pb.js';
import {
  type Entitlement,
  EntitlementsService,
  TimelineEntryKind,
} from '../../gen/billing/v1/entitlements_pb.js';
import type { CatalogEntryDoc } from '../../src/store/documents.js';
import {
  type BillingHarness,
  defaultCatalog,
  startBillingHarness,
} from '../helpers/billing-harness.js';
import { Rng, type SubStatus, seedFromEnv, subscriptionTransitions } from '../helpers/random.js';
import { codeOf } from '../helpers/rpc.js';
import { makeEvent, makeSubscription } from '../helpers/stripe-objects.js';

let h: BillingHarness;

/** `tokens`: 5 a day per seat, refused beyond (a daily reset, so histories cross resets). */
const tokens = {
  feature: 'tokens',
  limit: null,
  limit_per_unit: false,
  kind: 'metered' as const,
  metered: {
    allowance: 5,
    allowance_per_unit: true,
    reset: 'day' as const,
    overage: 'block' as const,
    stripe_meter_event_name: null,
  },
};

/** The default catalog, with `tokens` on the pro price. */
const timelineCatalog: CatalogEntryDoc[] = defaultCatalog.map((entry) =>
  entry.stripe_id === 'price_pro_monthly'
    ? { ...entry, features: [...entry.features, tokens] }
    : entry,
);

test.before(async () => {
  h = await startBillingHarness({
    catalog: timelineCatalog,
    env: { CUSTOMER_TOKEN_SECRETS: 'timeline-test-token-secret-0123456789abcdef' },
  });
});

test.after.always(async () => {
  await h?.close();
});

const transport = () => createConnectTransport({ baseUrl: h.server.baseUrl, httpVersion: '1.1' });
const admin = () => createClient(AdminService, transport());
const entitlements = () => createClient(EntitlementsService, transport());
const seconds = (date: Date) => Math.floor(date.getTime() / 1000);

async function grant(customerId: string, feature: string, options: { expiresAt?: Date } = {}) {
  const { grant } = await admin().grantEntitlement(
    {
      customerId,
      feature,
      reason: `grant ${feature}`,
      ...(options.expiresAt ? { expiresAt: timestampFromDate(options.expiresAt) } : {}),
    },
    h.auth,
  );
  return grant?.id ?? '';
}

async function subscribe(customerId: string, status: SubStatus, created: number, subId?: string) {
  const customer = await h.linkCustomer(customerId);
  const now = seconds(h.now());
  const subscription = makeSubscription({
    ...(subId ? { id: subId } : {}),
    customer,
    status,
    created: now,
    items: [
      {
        price: 'price_pro_monthly',
        product: 'prod_pro',
        quantity: 2,
        current_period_start: now,
        current_period_end: now + 30 * 86_400,
      },
    ],
  });
  const event = makeEvent({ type: 'customer.subscription.updated', object: subscription, created });
  const posted = await h.post(event);
  if (posted.status !== 200) throw new Error(`webhook answered ${posted.status}`);
  return { event, subscription };
}

test('a grant, a webhook and a revoke each leave an entry with its cause and the set before and after', async (t) => {
  const customerId = 'tl-causes';
  const grantId = await grant(customerId, 'trial');
  const { event } = await subscribe(customerId, 'active', seconds(h.now()));
  await admin().revokeGrant({ grantId, reason: 'trial over' }, h.auth);

  const { entries, nextPageToken } = await entitlements().listCustomerTimeline(
    { customerId },
    h.auth,
  );
  t.is(nextPageToken, '');
  const [revoke, webhook, granted] = entries;
  t.like(granted, {
    kind: TimelineEntryKind.GRANT,
    subjectId: grantId,
    reason: 'grant trial',
    first: true,
  });
  t.deepEqual(granted?.before, []);
  t.deepEqual(featuresOf(granted?.after), ['trial']);
  t.is(granted?.actor, h.project.adminKeyId, 'the key that granted');
  t.like(webhook, {
    kind: TimelineEntryKind.STRIPE_EVENT,
    stripeEventId: event.id,
    stripeEventType: 'customer.subscription.updated',
    first: false,
  });
  t.deepEqual(webhook?.changedFeatures, ['reports', 'seats', 'tokens']);
  t.deepEqual(featuresOf(webhook?.after), ['reports', 'seats', 'tokens', 'trial']);
  t.like(revoke, { kind: TimelineEntryKind.REVOKE, subjectId: grantId, reason: 'trial over' });
  t.deepEqual(revoke?.changedFeatures, ['trial']);
  t.deepEqual(featuresOf(revoke?.before), ['reports', 'seats', 'tokens', 'trial']);
  t.deepEqual(featuresOf(revoke?.after), ['reports', 'seats', 'tokens']);
  t.true(entries.every((entry) => !entry.computed));
});

test.serial(
  'an expiry is an entry computed from the facts; explain answers before and after it',
  async (t) => {
    const customerId = 'tl-expiry';
    const granted = h.now();
    const expiresAt = new Date(granted.getTime() + 3_600_000);
    await grant(customerId, 'beta', { expiresAt });
    h.fake.advance(7200);

    const { entries } = await entitlements().listCustomerTimeline({ customerId }, h.auth);
    t.like(entries[0], { kind: TimelineEntryKind.EXPIRY, computed: true, id: '' });
    t.is(entries[0]?.at && timestampDate(entries[0].at).getTime(), expiresAt.getTime());
    t.deepEqual(entries[0]?.changedFeatures, ['beta']);
    t.like(entries[1], { kind: TimelineEntryKind.GRANT });

    const before = await explain(customerId, 'beta', new Date(expiresAt.getTime() - 1));
    t.like(before.entitlement, { allowed: true });
    t.is(before.entries.length, 1);
    const after = await explain(customerId, 'beta', new Date(expiresAt.getTime() + 1));
    t.like(after.entitlement, { allowed: false });
    t.deepEqual(
      after.entries.map((entry) => entry.kind),
      [TimelineEntryKind.EXPIRY, TimelineEntryKind.GRANT],
    );
    const earlier = await explain(customerId, 'beta', new Date(granted.getTime() - 60_000));
    t.like(earlier.entitlement, { allowed: false }, 'before the first entry: nothing gave it');
  },
);

test.serial(
  'a catalog change shows in every affected timeline, and explain uses the catalog of the instant',
  async (t) => {
    const customerId = 'tl-catalog';
    await subscribe(customerId, 'active', seconds(h.now()));
    const beforeChange = h.now();
    const withAudit = timelineCatalog.map((entry) =>
      entry.stripe_id === 'price_pro_monthly'
        ? {
            ...entry,
            features: [...entry.features, { feature: 'audit', limit: null, limit_per_unit: false }],
          }
        : entry,
    );
    const { projectId } = h.project;
    try {
      await h.server.app.projects.setCatalog(projectId, withAudit, 'key:test', 'audit joins pro');
      const { entries } = await entitlements().listCustomerTimeline({ customerId }, h.auth);
      t.like(entries[0], {
        kind: TimelineEntryKind.CATALOG,
        reason: 'audit joins pro',
        computed: false,
      });
      t.deepEqual(entries[0]?.changedFeatures, ['audit']);
      t.like((await explain(customerId, 'audit', h.now())).entitlement, { allowed: true });
      t.like((await explain(customerId, 'audit', beforeChange)).entitlement, { allowed: false });
    } finally {
      await h.server.app.projects.setCatalog(projectId, timelineCatalog, 'key:test', 'restore');
    }
  },
);

test('explain refuses the future, a missing instant, and customer tokens; pages are the customer’s own', async (t) => {
  const future = new Date(h.now().getTime() + 86_400_000);
  t.is(await codeOf(explain('tl-refusals', 'trial', future)), Code.InvalidArgument);
  t.is(
    await codeOf(
      entitlements().explainEntitlement({ customerId: 'tl-refusals', feature: 'trial' }, h.auth),
    ),
    Code.InvalidArgument,
  );
  const { token } = await entitlements().issueCustomerToken({ customerId: 'tl-refusals' }, h.auth);
  const asCustomer = { headers: { authorization: `Bearer ${token}` } };
  t.is(
    await codeOf(
      entitlements().explainEntitlement(
        { customerId: 'tl-refusals', feature: 'trial', at: timestampFromDate(h.now()) },
        asCustomer,
      ),
    ),
    Code.PermissionDenied,
  );
  t.is(
    await codeOf(entitlements().listCustomerTimeline({ customerId: 'tl-refusals' }, asCustomer)),
    Code.PermissionDenied,
  );
  for (let i = 0; i < 3; i += 1) await grant('tl-pages', `f${i}`);
  const first = await entitlements().listCustomerTimeline(
    { customerId: 'tl-pages', pageSize: 2 },
    h.auth,
  );
  t.is(first.entries.length, 2);
  t.not(first.nextPageToken, '');
  const second = await entitlements().listCustomerTimeline(
    { customerId: 'tl-pages', pageSize: 2, pageToken: first.nextPageToken },
    h.auth,
  );
  t.deepEqual(
    second.entries.map((entry) => entry.changedFeatures),
    [['f0']],
  );
  t.is(
    await codeOf(
      entitlements().listCustomerTimeline(
        { customerId: 'tl-refusals', pageToken: first.nextPageToken },
        h.auth,
      ),
    ),
    Code.InvalidArgument,
    "another customer's page token",
  );
});

/**
 * The issue's proof. Features: `reports`, `seats` (limit 1 per seat) and
 * `tokens` (metered, reset daily) from the subscription, `trial` and
 * `reports` from grants (some expiring), `export` never given. Usage is
 * tracked with and without `enforce`; the ledger times its entries by the
 * same business clock the history moves.
 */
test.serial(
  'over random histories, ExplainEntitlement at every checked instant answers what CheckEntitlement answered',
  async (t) => {
    t.timeout(240_000);
    const seed = seedFromEnv('TIMELINE_SEED');
    t.log(`seed ${seed} (TIMELINE_SEED=${seed} replays it)`);
    const rng = new Rng(seed);
    const features = ['reports', 'seats', 'tokens', 'trial', 'export'];
    for (let history = 0; history < 3; history += 1) {
      const customerId = `tl-random-${seed}-${history}`;
      const samples = await randomHistory(rng, customerId, features);
      for (const sample of samples) {
        const explained = await explain(customerId, sample.feature, sample.at);
        t.deepEqual(
          comparable(explained.entitlement),
          comparable(sample.answer),
          `${customerId} ${sample.feature} at ${sample.at.toISOString()} (seed ${seed})`,
        );
      }
      t.true(samples.length >= 40);
    }
  },
);

interface Sample {
  readonly at: Date;
  readonly feature: string;
  readonly answer: Entitlement | undefined;
}

async function randomHistory(rng: Rng, customerId: string, features: readonly string[]) {
  const samples: Sample[] = [];
  const grants: string[] = [];
  let status: SubStatus | undefined;
  let created = seconds(h.now());
  const subId = `sub_tl_${customerId}`;
  for (let step = 0; step < 14; step += 1) {
    const move = rng.int(0, 4);
    if (move === 0) {
      const expiresAt = rng.chance(0.5)
        ? new Date(h.now().getTime() + rng.int(60, 7200) * 1000)
        : undefined;
      grants.push(await grant(customerId, rng.pick(['trial', 'reports']), { expiresAt }));
    } else if (move === 1 && grants.length > 0) {
      const grantId = grants.splice(rng.int(0, grants.length - 1), 1)[0] ?? '';
      await admin().revokeGrant({ grantId, reason: 'random revoke' }, h.auth);
    } else if (move === 2) {
      status = status === undefined ? 'active' : rng.pick(subscriptionTransitions[status]);
      created = Math.max(created + 1, seconds(h.now()));
      await subscribe(customerId, status, created, subId);
    } else if (move === 3) {
      await trackTokens(customerId, rng.int(1, 4), rng.chance(0.5));
    } else {
      h.fake.advance(rng.int(60, 3 * 3600));
    }
    samples.push(...(await checkAll(customerId, features)));
  }
  return samples;
}

/** Usage of `tokens`; refused (and so nothing recorded) without a source, or over the balance under enforce. */
async function trackTokens(customerId: string, amount: number, enforce: boolean) {
  const tracked = entitlements().trackUsage(
    {
      customerId,
      feature: 'tokens',
      amount: BigInt(amount),
      idempotencyKey: randomUUID(),
      enforce,
    },
    h.auth,
  );
  const code = await codeOf(tracked);
  if (code !== 'ok' && code !== Code.FailedPrecondition) throw new Error(`TrackUsage: ${code}`);
}

/** Every feature checked; the instant is taken after, and kept only while the answers hold. */
async function checkAll(customerId: string, features: readonly string[]): Promise<Sample[]> {
  const answers = await Promise.all(
    features.map(async (feature) => ({
      feature,
      answer: (await entitlements().checkEntitlement({ customerId, feature }, h.auth)).entitlement,
    })),
  );
  const at = h.now();
  return answers
    .filter(({ answer }) => !answer?.validUntil || timestampDate(answer.validUntil) > at)
    .map(({ feature, answer }) => ({ at, feature, answer }));
}

async function explain(customerId: string, feature: string, at: Date) {
  return entitlements().explainEntitlement(
    { customerId, feature, at: timestampFromDate(at) },
    h.auth,
  );
}

function comparable(entitlement: Entitlement | undefined) {
  const time = (timestamp: Timestamp | undefined) =>
    timestamp && timestampDate(timestamp).getTime();
  return {
    allowed: entitlement?.allowed,
    limit: entitlement?.limit,
    denialReason: entitlement?.denialReason,
    validUntil: time(entitlement?.validUntil),
    usage: entitlement?.usage,
    balance: entitlement?.balance,
    reserved: entitlement?.reserved,
    credits: entitlement?.credits,
    resetsAt: time(entitlement?.resetsAt),
    sources: entitlement?.sources.map((source) => ({
      kind: source.kind,
      id: source.id,
      limit: source.limit,
      status: source.status,
      catalogId: source.catalogId,
      validUntil: time(source.validUntil),
    })),
  };
}

function featuresOf(list: readonly Entitlement[] | undefined): string[] {
  return (list ?? []).map((entitlement) => entitlement.feature);
}
