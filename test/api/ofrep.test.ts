/**
 * OFREP answers in memory (src/api/ofrep.ts, ofrep-flags.ts), with a fake
 * lookup and fake credentials: each flag form and its value, the OFREP
 * statuses and error codes for every kind of bad call, and the bulk
 * answer's ETag.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import test from 'ava';
import { answerOfrep, type OfrepCall, type OfrepDeps } from '../../src/api/ofrep.js';
import type { Principal } from '../../src/domain/api-keys.js';
import type { EntitlementSet } from '../../src/domain/entitlements.js';
import { DependencyUnavailableError } from '../../src/domain/errors.js';

const resetsAt = new Date('2027-01-01T00:00:00Z');
const validUntil = new Date('2026-12-31T00:00:00Z');

const set: EntitlementSet = {
  entitlements: [
    {
      feature: 'api',
      allowed: true,
      limit: 1000,
      sources: [
        {
          kind: 'subscription',
          id: 'sub_1',
          limit: 1000,
          validUntil,
          status: 'active',
          catalogId: 'price_pro',
        },
      ],
      validUntil,
      metered: { usage: 250, balance: 750, reserved: 0, credits: 0, resetsAt, overage: 'block' },
    },
    {
      feature: 'beta',
      allowed: true,
      limit: null,
      sources: [
        { kind: 'grant', id: 'g1', limit: null, validUntil: null, status: null, catalogId: null },
      ],
      validUntil: null,
    },
  ],
  validUntil,
  denials: [{ feature: 'seats', reason: 'no_source' }],
  version: 1_733_000_000_000_001,
};

const apiKey: Principal = {
  kind: 'api_key',
  projectId: 'p1',
  keyId: 'k1',
  scopes: ['entitlements:read'],
};

function world(options: { principal?: Principal; failing?: Error } = {}) {
  const lookups: string[] = [];
  let current = set;
  const deps: OfrepDeps = {
    entitlements: {
      async list(projectId, customerId) {
        lookups.push(`${projectId}/${customerId}`);
        if (options.failing) throw options.failing;
        return current;
      },
    },
    async authenticate(credentials) {
      if (credentials !== 'good') throw new ConnectError('unknown key', Code.Unauthenticated);
      return options.principal ?? apiKey;
    },
  };
  const call = (flagKey: string | undefined, extra: Partial<OfrepCall> = {}) =>
    answerOfrep(
      {
        flagKey,
        credentials: 'good',
        ifNoneMatch: undefined,
        body: Buffer.from(JSON.stringify({ context: { targetingKey: 'user-1' } })),
        ...extra,
      },
      deps,
    );
  return { call, lookups, change: (next: EntitlementSet) => (current = next) };
}

const bodyOf = (answer: { body?: unknown }) => answer.body as Record<string, unknown>;

test('a feature is a boolean flag: allowed, with the entitlement in its metadata', async (t) => {
  const { call, lookups } = world();
  const answer = await call('api');
  t.is(answer.status, 200);
  t.like(bodyOf(answer), {
    key: 'api',
    value: true,
    reason: 'TARGETING_MATCH',
    variant: 'allowed',
  });
  t.deepEqual(bodyOf(answer).metadata, {
    allowed: true,
    limit: 1000,
    usage: 250,
    balance: 750,
    sources: 'subscription:sub_1',
    validUntil: '2026-12-31T00:00:00.000Z',
    version: 1_733_000_000_000_001,
  });
  t.deepEqual(lookups, ['p1/user-1'], 'the targeting key is the customer, in the caller’s project');
});

test('a known feature the customer lacks is false, with the reason; an unknown one is FLAG_NOT_FOUND', async (t) => {
  const { call } = world();
  const denied = await call('seats');
  t.is(denied.status, 200);
  t.like(bodyOf(denied), { value: false, variant: 'denied' });
  t.like(bodyOf(denied).metadata, { allowed: false, denialReason: 'no_source' });
  t.like(bodyOf(await call('seats/limit')), { value: 0 });

  const unknown = await call('nope');
  t.is(unknown.status, 404);
  t.like(bodyOf(unknown), { key: 'nope', errorCode: 'FLAG_NOT_FOUND' });
  t.is((await call('api/colour')).status, 404, 'an unknown figure');
  t.is((await call('beta/balance')).status, 404, 'a balance of a feature that is not metered');
});

test('figures after a slash are numbers; an unlimited one has no value; the entitlement is an object', async (t) => {
  const { call } = world();
  t.like(bodyOf(await call('api/limit')), { value: 1000 });
  t.like(bodyOf(await call('api/balance')), { value: 750 });
  t.like(bodyOf(await call('api/usage')), { value: 250 });
  const unlimited = bodyOf(await call('beta/limit'));
  t.false('value' in unlimited, 'no number: the caller’s default answers');
  t.like(unlimited.metadata, { unlimited: true });
  t.like(bodyOf(await call('api/entitlement')).value, {
    feature: 'api',
    allowed: true,
    limit: '1000',
    balance: '750',
  });
});

test('credentials: none or unknown is 401, a key without entitlements:read 403, a token of another customer 403', async (t) => {
  t.is((await world().call('api', { credentials: undefined })).status, 401);
  t.is((await world().call('api', { credentials: 'bad' })).status, 401);
  const writer: Principal = { ...apiKey, scopes: ['checkout:write'] };
  t.is((await world({ principal: writer }).call('api')).status, 403);
  const token: Principal = {
    kind: 'customer_token',
    projectId: 'p1',
    customerId: 'someone-else',
    scopes: ['entitlements:read'],
    expiresAt: new Date(Date.now() + 60_000),
  };
  const other = world({ principal: token });
  t.is((await other.call('api')).status, 403);
  t.deepEqual(other.lookups, [], 'nothing is read for a refused caller');
});

test('bad bodies are 400 with the OFREP error code, and read nothing', async (t) => {
  const { call, lookups } = world();
  const asBody = (text: string) => ({ body: Buffer.from(text) });
  t.like(bodyOf(await call('api', asBody('{nope'))), { key: 'api', errorCode: 'PARSE_ERROR' });
  t.like(bodyOf(await call('api', asBody('{}'))), { errorCode: 'TARGETING_KEY_MISSING' });
  t.like(bodyOf(await call('api', asBody('[1]'))), { errorCode: 'INVALID_CONTEXT' });
  t.like(bodyOf(await call('api', asBody('{"context": []}'))), { errorCode: 'INVALID_CONTEXT' });
  t.like(bodyOf(await call('api', asBody('{"context": {}}'))), {
    errorCode: 'TARGETING_KEY_MISSING',
  });
  t.like(bodyOf(await call('api', asBody('{"context": {"targetingKey": 7}}'))), {
    errorCode: 'TARGETING_KEY_MISSING',
  });
  const control = JSON.stringify({ context: { targetingKey: 'a\u0000b' } });
  t.like(bodyOf(await call('api', asBody(control))), { errorCode: 'INVALID_CONTEXT' });
  const long = JSON.stringify({ context: { targetingKey: 'x'.repeat(257) } });
  t.like(bodyOf(await call('api', asBody(long))), { errorCode: 'INVALID_CONTEXT' });
  const bulk = await call(undefined, asBody('{}'));
  t.is(bulk.status, 400);
  t.false('key' in bodyOf(bulk), 'a bulk failure names no flag');
  t.deepEqual(lookups, []);
});

test('bulk: every flag of every known feature, an ETag, and 304 while nothing changed', async (t) => {
  const { call, change } = world();
  const first = await call(undefined);
  t.is(first.status, 200);
  const flags = bodyOf(first).flags as { key: string }[];
  t.deepEqual(
    flags.map((f) => f.key),
    [
      'api',
      'api/entitlement',
      'api/limit',
      'api/balance',
      'api/usage',
      'beta',
      'beta/entitlement',
      'beta/limit',
      'seats',
      'seats/entitlement',
      'seats/limit',
    ],
  );
  t.like(bodyOf(first).metadata, { version: 1_733_000_000_000_001 });
  const etag = first.headers?.etag ?? '';
  t.regex(etag, /^"[A-Za-z0-9_-]+"$/);

  const again = await call(undefined, { ifNoneMatch: etag });
  t.is(again.status, 304);
  t.is(again.body, undefined);
  t.is((await call(undefined, { ifNoneMatch: `W/${etag}, "other"` })).status, 304);

  change({ ...set, entitlements: set.entitlements.slice(1), version: (set.version ?? 0) + 1 });
  const changed = await call(undefined, { ifNoneMatch: etag });
  t.is(changed.status, 200);
  t.not(changed.headers?.etag, etag);
});

test('a dependency down is 503 with Retry-After; any other failure is not hidden', async (t) => {
  const down = await world({ failing: new DependencyUnavailableError('mongodb') }).call('api');
  t.is(down.status, 503);
  t.is(down.headers?.['retry-after'], '1');
  t.like(bodyOf(down), { key: 'api', errorCode: 'GENERAL' });
  await t.throwsAsync(world({ failing: new Error('a bug') }).call('api'), { message: 'a bug' });
});
