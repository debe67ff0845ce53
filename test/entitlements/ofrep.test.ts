// needs: mongodb redis
/**
 * OFREP end to end: OpenFeature's own generic providers, unchanged, read
 * our entitlements as flags from a live service. The server provider
 * (@openfeature/ofrep-provider) evaluates one flag per call with an API
 * key; the web provider (@openfeature/ofrep-web-provider) evaluates in bulk
 * with a customer token and follows a change through its ETag polling.
 */

import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';
import { ErrorCode, OpenFeature } from '@openfeature/server-sdk';
import { ProviderEvents, OpenFeature as WebFeatures } from '@openfeature/web-sdk';
import test from 'ava';
import { AdminService } from '../../gen/billing/v1/admin_pb.js';
import { EntitlementsService } from '../../gen/billing/v1/entitlements_pb.js';
import { createTestProject, startTestApp, type TestApp, type TestProject } from '../helpers/app.js';

let server: TestApp;
let project: TestProject;

test.before(async () => {
  server = await startTestApp({
    env: { CUSTOMER_TOKEN_SECRETS: 'ofrep-test-token-secret-0123456789abcdef' },
  });
  project = await createTestProject(server.app, 'ofrep');
  const catalog = [
    { stripeId: 'price_team', features: [{ feature: 'seats', limit: 5n }] },
    { stripeId: 'price_other', features: [{ feature: 'reports' }] },
  ];
  await admin().setCatalog({ entries: catalog, reason: 'ofrep test' }, auth());
});

test.after.always(async () => {
  await OpenFeature.close();
  await WebFeatures.close();
  await server?.app.stop();
});

const auth = () => ({ headers: { authorization: `Bearer ${project.adminKey}` } });
const transport = () => createGrpcTransport({ baseUrl: server.baseUrl });
const admin = () => createClient(AdminService, transport());
const grant = (customerId: string, feature: string, limit?: bigint) =>
  admin().grantEntitlement({ customerId, feature, limit, reason: 'ofrep test' }, auth());

/** A server-side OpenFeature client of its own domain (tests run at once). */
async function serverClient(domain: string, headers: [string, string][]) {
  await OpenFeature.setProviderAndWait(
    domain,
    new OFREPProvider({ baseUrl: server.baseUrl, headers }),
  );
  return OpenFeature.getClient(domain);
}

test('the generic server provider reads booleans, numbers and objects, with our metadata', async (t) => {
  await grant('of-user', 'reports');
  await grant('of-user', 'seats', 3n);
  const client = await serverClient('types', [['Authorization', `Bearer ${project.adminKey}`]]);
  const context = { targetingKey: 'of-user' };
  t.true(await client.getBooleanValue('reports', false, context));
  const seats = await client.getNumberDetails('seats/limit', -1, context);
  t.is(seats.value, 3);
  t.like(seats.flagMetadata, { allowed: true, limit: 3 });
  t.regex(String(seats.flagMetadata.sources), /^grant:/);
  const whole = await client.getObjectValue('reports/entitlement', {}, context);
  t.like(whole, { feature: 'reports', allowed: true });

  const denied = await client.getBooleanDetails('seats', true, { targetingKey: 'nobody' });
  t.false(denied.value);
  t.is(denied.flagMetadata.denialReason, 'no_source');
});

test('an unknown flag is the caller’s default with FLAG_NOT_FOUND; X-API-Key works as well as a bearer', async (t) => {
  const client = await serverClient('errors', [['X-API-Key', project.adminKey]]);
  const unknown = await client.getBooleanDetails('no-such-feature', true, { targetingKey: 'u' });
  t.true(unknown.value);
  t.is(unknown.errorCode, ErrorCode.FLAG_NOT_FOUND);
  const missing = await client.getBooleanDetails('reports', true, {});
  t.is(missing.errorCode, ErrorCode.TARGETING_KEY_MISSING);
});

test('a bad key gets no answer but the default', async (t) => {
  const client = await serverClient('bad-key', [['Authorization', 'Bearer bk_nope_nope']]);
  const answer = await client.getBooleanDetails('reports', false, { targetingKey: 'of-user' });
  t.false(answer.value);
  t.not(answer.errorCode, undefined);
});

test('the generic web provider evaluates in bulk with a customer token and follows a grant', async (t) => {
  const entitlements = createClient(EntitlementsService, transport());
  const { token } = await entitlements.issueCustomerToken({ customerId: 'web-user' }, auth());
  await WebFeatures.setContext({ targetingKey: 'web-user' });
  const provider = new OFREPWebProvider({
    baseUrl: server.baseUrl,
    headers: [['Authorization', `Bearer ${token}`]],
    pollInterval: 100,
    changeDetection: 'polling',
    cacheMode: 'disabled',
    disableVisibilityRefresh: true,
  });
  await WebFeatures.setProviderAndWait(provider);
  const client = WebFeatures.getClient();
  t.false(client.getBooleanValue('reports', true));
  const changed = new Promise<void>((resolve) =>
    client.addHandler(ProviderEvents.ConfigurationChanged, () => resolve()),
  );
  await grant('web-user', 'reports');
  await changed;
  t.true(client.getBooleanValue('reports', false));
});
