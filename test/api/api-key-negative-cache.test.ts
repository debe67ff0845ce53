/**
 * Unknown API keys are remembered briefly, so a client hammering the service
 * with a bad key costs one database lookup, not one per request; known keys,
 * keys created later and expiry still behave. In memory: the authenticator's
 * one lookup is a fake that counts calls.
 */
import test from 'ava';
import { ApiKeyAuthenticator, type ApiKeyLookup } from '../../src/api/auth.js';
import type { KeyRevocations } from '../../src/api/token-issuers.js';
import { formatApiKey, hashApiKey } from '../../src/domain/api-keys.js';
import type { ApiKeyRecord } from '../../src/domain/records.js';

class CountingKeys implements ApiKeyLookup {
  readonly docs = new Map<string, ApiKeyRecord>();
  lookups = 0;

  async findById(keyId: string): Promise<ApiKeyRecord | null> {
    this.lookups += 1;
    return this.docs.get(keyId) ?? null;
  }

  /** The lookup the authenticator used before it went by id (counted the same). */
  async findByHash(secretHash: string): Promise<ApiKeyRecord | null> {
    this.lookups += 1;
    return [...this.docs.values()].find((doc) => doc.secret_hash === secretHash) ?? null;
  }

  add(keyId: string, secret: string): string {
    const apiKey = formatApiKey(keyId, secret);
    this.docs.set(keyId, {
      _id: keyId,
      project_id: 'p1',
      name: 'k',
      secret_hash: hashApiKey(apiKey),
      scopes: ['admin'],
      created_at: new Date(0),
      created_by: 'test',
      revoked_at: null,
      revoked_by: null,
    });
    return apiKey;
  }
}

const silentBus: KeyRevocations = { onMessage: () => () => undefined };
const secret = (fill: string) => fill.repeat(43).slice(0, 43);

function setup(negativeTtlMs = 5000) {
  const keys = new CountingKeys();
  const clock = { now: 1_000_000 };
  const auth = new ApiKeyAuthenticator(keys, silentBus, 60_000, negativeTtlMs, () => clock.now);
  return { keys, clock, auth };
}

test('100 requests with one unknown key cost one lookup', async (t) => {
  const { keys, auth } = setup();
  const bad = formatApiKey('0123456789abcdef', secret('x'));
  for (let i = 0; i < 100; i += 1) t.is(await auth.authenticate(bad), undefined);
  t.is(keys.lookups, 1);
});

test('the unknown answer expires after its TTL', async (t) => {
  const { keys, clock, auth } = setup(5000);
  const bad = formatApiKey('0123456789abcdef', secret('x'));
  await auth.authenticate(bad);
  clock.now += 4999;
  await auth.authenticate(bad);
  t.is(keys.lookups, 1);
  clock.now += 1;
  await auth.authenticate(bad);
  t.is(keys.lookups, 2);
});

test('a TTL of 0 remembers nothing', async (t) => {
  const { keys, auth } = setup(0);
  const bad = formatApiKey('0123456789abcdef', secret('x'));
  await auth.authenticate(bad);
  await auth.authenticate(bad);
  t.is(keys.lookups, 2);
});

test('a key created after a bad key was tried works at once', async (t) => {
  const { keys, auth } = setup();
  await auth.authenticate(formatApiKey('0123456789abcdef', secret('x')));
  const created = keys.add('0123456789abcdef', secret('y'));
  const principal = await auth.authenticate(created);
  t.is(principal?.keyId, '0123456789abcdef');
});

test('a real key id with a made-up secret is refused', async (t) => {
  const { keys, auth } = setup();
  keys.add('0123456789abcdef', secret('y'));
  t.is(await auth.authenticate(formatApiKey('0123456789abcdef', secret('z'))), undefined);
  t.truthy(await auth.authenticate(formatApiKey('0123456789abcdef', secret('y'))));
});

test('a string that is not an API key costs no lookup', async (t) => {
  const { keys, auth } = setup();
  for (const bad of ['', 'hello', 'bk_short_secret', `bk_0123456789ABCDEF_${secret('x')}`]) {
    t.is(await auth.authenticate(bad), undefined);
  }
  t.is(keys.lookups, 0);
});

test('memory for unknown keys is bounded: the oldest are forgotten first', async (t) => {
  const { keys, auth } = setup();
  const nth = (i: number) => formatApiKey(i.toString(16).padStart(16, '0'), secret('x'));
  for (let i = 0; i <= 10_000; i += 1) await auth.authenticate(nth(i));
  t.is(keys.lookups, 10_001);
  // The newest is still remembered; the first one was pushed out.
  await auth.authenticate(nth(10_000));
  t.is(keys.lookups, 10_001);
  await auth.authenticate(nth(0));
  t.is(keys.lookups, 10_002);
});
