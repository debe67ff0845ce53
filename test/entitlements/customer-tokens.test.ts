// needs: mongodb redis
/**
 * Customer tokens: a backend mints one for one customer; with it a browser
 * may read that customer's entitlements and nothing else. Every abuse is
 * UNAUTHENTICATED (not a valid token) or PERMISSION_DENIED (valid, but not
 * for this).
 */
import { createHmac, hkdfSync } from 'node:crypto';
import { durationFromMs } from '@bufbuild/protobuf/wkt';
import { Code, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { AdminService, Scope } from '../../gen/billing/v1/admin_pb.js';
import { CheckoutMode, CheckoutService } from '../../gen/billing/v1/checkout_pb.js';
import { EntitlementsService } from '../../gen/billing/v1/entitlements_pb.js';
import { signCustomerToken } from '../../src/domain/customer-tokens.js';
import { createTestProject, startTestApp, type TestApp, type TestProject } from '../helpers/app.js';
import { codeOf } from '../helpers/rpc.js';

const secret = 'customer-token-secret-for-tests-0123456789';
let server: TestApp;
let project: TestProject;

test.before(async () => {
  server = await startTestApp({
    env: {
      CUSTOMER_TOKEN_SECRETS: `${secret},older-secret-still-accepted-0123456789`,
      CORS_ALLOWED_ORIGINS: 'https://app.example',
    },
  });
  project = await createTestProject(server.app, 'tokens');
});

test.after.always(async () => {
  await server?.app.stop();
});

const transport = () => createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' });
const entitlements = () => createClient(EntitlementsService, transport());
const admin = () => createClient(AdminService, transport());
const as = (bearer: string) => ({ headers: { authorization: `Bearer ${bearer}` } });

async function tokenFor(customerId: string, ttlMs = 600_000): Promise<string> {
  const issued = await entitlements().issueCustomerToken(
    { customerId, ttl: durationFromMs(ttlMs) },
    as(project.adminKey),
  );
  return issued.token;
}

test('a token reads its own customer: check, list and watch', async (t) => {
  await admin().grantEntitlement(
    { customerId: 'tok-user', feature: 'beta', reason: 'r' },
    as(project.adminKey),
  );
  const token = await tokenFor('tok-user');
  t.regex(token, /^ct_/);
  const check = await entitlements().checkEntitlement(
    { customerId: 'tok-user', feature: 'beta' },
    as(token),
  );
  t.true(check.entitlement?.allowed);
  const list = await entitlements().listEntitlements({ customerId: 'tok-user' }, as(token));
  t.deepEqual(
    list.entitlements.map((e) => e.feature),
    ['beta'],
  );
  const abort = new AbortController();
  const stream = entitlements().watchEntitlements(
    { customerId: 'tok-user' },
    { ...as(token), signal: abort.signal },
  );
  for await (const message of stream) {
    t.deepEqual(
      message.entitlements.map((e) => e.feature),
      ['beta'],
    );
    break;
  }
  abort.abort();
});

test('another customer with the token is PERMISSION_DENIED', async (t) => {
  const token = await tokenFor('tok-alice');
  t.is(
    await codeOf(
      entitlements().checkEntitlement({ customerId: 'tok-bob', feature: 'beta' }, as(token)),
    ),
    Code.PermissionDenied,
  );
  t.is(
    await codeOf(entitlements().listEntitlements({ customerId: 'tok-bob' }, as(token))),
    Code.PermissionDenied,
  );
  const stream = entitlements().watchEntitlements({ customerId: 'tok-bob' }, as(token));
  t.is(
    await codeOf(
      (async () => {
        for await (const _ of stream) break;
      })(),
    ),
    Code.PermissionDenied,
  );
});

test('expired, tampered and foreign tokens are UNAUTHENTICATED', async (t) => {
  const check = (token: string) =>
    codeOf(entitlements().checkEntitlement({ customerId: 'tok-x', feature: 'beta' }, as(token)));
  const expired = signCustomerToken(
    {
      projectId: project.projectId,
      customerId: 'tok-x',
      keyId: project.adminKeyId,
      expiresAt: new Date(Date.now() - 1000),
    },
    secret,
  );
  t.is(await check(expired), Code.Unauthenticated);
  const genuine = await tokenFor('tok-x');
  const [payload, signature] = genuine.slice(3).split('.');
  const forgedPayload = Buffer.from(
    JSON.stringify({ p: project.projectId, c: 'tok-x', k: project.adminKeyId, exp: 4102444800 }),
  ).toString('base64url');
  t.is(
    await check(`ct_${forgedPayload}.${signature}`),
    Code.Unauthenticated,
    'a longer expiry with the old signature',
  );
  t.is(await check(`ct_${payload}.${'A'.repeat(43)}`), Code.Unauthenticated);
  const otherSecret = signCustomerToken(
    {
      projectId: project.projectId,
      customerId: 'tok-x',
      keyId: project.adminKeyId,
      expiresAt: new Date(Date.now() + 60_000),
    },
    'a-secret-this-service-never-had-0123456789',
  );
  t.is(await check(otherSecret), Code.Unauthenticated);
  t.is(await check('ct_garbage'), Code.Unauthenticated);
});

test('a token signed with an older configured secret still works (rotation)', async (t) => {
  const older = signCustomerToken(
    {
      projectId: project.projectId,
      customerId: 'tok-rot',
      keyId: project.adminKeyId,
      expiresAt: new Date(Date.now() + 60_000),
    },
    'older-secret-still-accepted-0123456789',
  );
  t.is(
    await codeOf(
      entitlements().checkEntitlement({ customerId: 'tok-rot', feature: 'beta' }, as(older)),
    ),
    'ok',
  );
});

test('a token reaches nothing but reads: admin, checkout and minting are PERMISSION_DENIED', async (t) => {
  const token = await tokenFor('tok-user');
  t.is(await codeOf(admin().getProject({}, as(token))), Code.PermissionDenied);
  t.is(
    await codeOf(
      admin().grantEntitlement({ customerId: 'tok-user', feature: 'x', reason: 'r' }, as(token)),
    ),
    Code.PermissionDenied,
  );
  t.is(
    await codeOf(entitlements().issueCustomerToken({ customerId: 'tok-user' }, as(token))),
    Code.PermissionDenied,
  );
  const checkout = createClient(CheckoutService, transport());
  const session = {
    customerId: 'tok-user',
    mode: CheckoutMode.SUBSCRIPTION,
    lineItems: [{ priceId: 'price_x', quantity: 1n }],
    successUrl: 'https://a.example',
    cancelUrl: 'https://a.example',
  };
  t.is(await codeOf(checkout.createCheckoutSession(session, as(token))), Code.PermissionDenied);
});

test("a token never shows another project's data", async (t) => {
  const other = await createTestProject(server.app, 'other');
  await admin().grantEntitlement(
    { customerId: 'shared-id', feature: 'other-only', reason: 'r' },
    as(other.adminKey),
  );
  const token = await tokenFor('shared-id');
  const list = await entitlements().listEntitlements({ customerId: 'shared-id' }, as(token));
  t.deepEqual(list.entitlements, []);
});

test('minting needs entitlements:read and a sane ttl', async (t) => {
  const checkoutOnly = await admin().createApiKey(
    { name: 'co', scopes: [Scope.CHECKOUT_WRITE], reason: 'r' },
    as(project.adminKey),
  );
  t.is(
    await codeOf(entitlements().issueCustomerToken({ customerId: 'u' }, as(checkoutOnly.secret))),
    Code.PermissionDenied,
  );
  for (const ttl of [durationFromMs(0), durationFromMs(-1000), durationFromMs(25 * 3600 * 1000)]) {
    t.is(
      await codeOf(
        entitlements().issueCustomerToken({ customerId: 'u', ttl }, as(project.adminKey)),
      ),
      Code.InvalidArgument,
    );
  }
  t.is(
    await codeOf(entitlements().issueCustomerToken({ customerId: '' }, as(project.adminKey))),
    Code.InvalidArgument,
  );
});

const base64url = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

test('only the canonical spelling of a signature verifies: its last character has no twins', async (t) => {
  const check = (token: string) =>
    codeOf(entitlements().checkEntitlement({ customerId: 'tok-c', feature: 'beta' }, as(token)));
  const genuine = await tokenFor('tok-c');
  t.is(await check(genuine), 'ok');
  const last = genuine.at(-1) ?? '';
  // 43 characters carry 258 bits for a 256-bit HMAC: the last character's
  // two low bits are unused, so four characters decode to the same bytes.
  const twins = [...base64url].filter(
    (c) => c !== last && base64url.indexOf(c) >> 2 === base64url.indexOf(last) >> 2,
  );
  t.is(twins.length, 3);
  for (const twin of twins) {
    const variant = `${genuine.slice(0, -1)}${twin}`;
    t.deepEqual(
      Buffer.from(variant.split('.')[1] ?? '', 'base64url'),
      Buffer.from(genuine.split('.')[1] ?? '', 'base64url'),
    );
    t.is(await check(variant), Code.Unauthenticated, `last character ${twin}`);
  }
});

/** A token built by hand, signed with HMAC-SHA256 under `key`, as the format in src/domain/customer-tokens.ts says. */
function handMade(projectId: string, customerId: string, key: Buffer | string): string {
  const payload = Buffer.from(
    JSON.stringify({
      p: projectId,
      c: customerId,
      k: project.adminKeyId,
      exp: Math.floor(Date.now() / 1000) + 600,
    }),
  ).toString('base64url');
  return `ct_${payload}.${createHmac('sha256', key).update(payload).digest('base64url')}`;
}

const derivedKey = (projectId: string) =>
  Buffer.from(hkdfSync('sha256', secret, 'billing customer token v1', `project:${projectId}`, 32));

test('tokens are signed per project: neither the shared secret nor another project’s key signs', async (t) => {
  const other = await createTestProject(server.app, 'other signer');
  const check = (token: string, customerId: string) =>
    codeOf(entitlements().checkEntitlement({ customerId, feature: 'beta' }, as(token)));
  t.is(
    await check(handMade(project.projectId, 'tok-p', derivedKey(project.projectId)), 'tok-p'),
    'ok',
    "the project's own derived key signs",
  );
  t.is(
    await check(handMade(other.projectId, 'tok-p', derivedKey(project.projectId)), 'tok-p'),
    Code.Unauthenticated,
    "a project's key does not sign for another project",
  );
  t.is(
    await check(handMade(other.projectId, 'tok-p', secret), 'tok-p'),
    Code.Unauthenticated,
    'the configured secret itself signs for no project',
  );
});

test('revoking the key that issued a token ends the token at once', async (t) => {
  const issuer = await admin().createApiKey(
    { name: 'token issuer', scopes: [Scope.ENTITLEMENTS_READ], reason: 'r' },
    as(project.adminKey),
  );
  const issued = await entitlements().issueCustomerToken(
    { customerId: 'tok-rev' },
    as(issuer.secret),
  );
  const check = () =>
    codeOf(
      entitlements().checkEntitlement({ customerId: 'tok-rev', feature: 'beta' }, as(issued.token)),
    );
  t.is(await check(), 'ok');
  const sibling = await tokenFor('tok-rev');
  await admin().revokeApiKey(
    { keyId: issuer.key?.id ?? '', reason: 'issuer leaked' },
    as(project.adminKey),
  );
  t.is(await check(), Code.Unauthenticated);
  t.is(
    await codeOf(
      entitlements().checkEntitlement({ customerId: 'tok-rev', feature: 'beta' }, as(sibling)),
    ),
    'ok',
    "tokens of the project's other keys keep working",
  );
});

test('CORS: configured origins get preflight answers, others none', async (t) => {
  const url = `${server.baseUrl}/billing.v1.EntitlementsService/CheckEntitlement`;
  const preflight = (origin: string) =>
    fetch(url, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
  const allowed = await preflight('https://app.example');
  t.is(allowed.headers.get('access-control-allow-origin'), 'https://app.example');
  t.regex(allowed.headers.get('access-control-allow-headers') ?? '', /Authorization/);
  const refused = await preflight('https://evil.example');
  t.is(refused.headers.get('access-control-allow-origin'), null);
});
