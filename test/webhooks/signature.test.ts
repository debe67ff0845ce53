// needs: mongodb redis
/**
 * The webhook shim refuses anything not signed by the project's own secret
 * within Stripe's 300 s tolerance, with 400, and stores nothing.
 */
import test from 'ava';
import { MongoClient } from 'mongodb';
import { type BillingHarness, startBillingHarness } from '../helpers/billing-harness.js';
import { testMongoUrl } from '../helpers/services.js';
import {
  makeEvent,
  makeSubscription,
  nowSeconds,
  signedWebhook,
} from '../helpers/stripe-objects.js';

let h: BillingHarness;
let mongo: MongoClient;

test.before(async () => {
  h = await startBillingHarness({ env: { WEBHOOK_MAX_BODY_BYTES: '65536' } });
  mongo = await new MongoClient(testMongoUrl()).connect();
});

test.after.always(async () => {
  await mongo?.close();
  await h?.close();
});

const receiptsOf = (projectId: string) =>
  mongo
    .db(h.server.config.mongodbDatabase)
    .collection('event_receipts')
    .countDocuments({ project_id: projectId });

const subscriptionsOf = (projectId: string) =>
  mongo
    .db(h.server.config.mongodbDatabase)
    .collection('subscriptions')
    .countDocuments({ project_id: projectId });

function event() {
  return makeEvent({
    type: 'customer.subscription.created',
    object: makeSubscription({ customer: 'cus_attack' }),
  });
}

test.serial('each forgery is 400 and leaves nothing behind', async (t) => {
  const projectId = h.project.projectId;
  const genuine = signedWebhook(event(), h.project.webhookSecret);
  const other = await h.addProject('other');
  const attempts: Array<[string, Parameters<BillingHarness['post']>]> = [
    ['tampered body', [event(), { header: genuine.header }]],
    ['wrong secret', [event(), { secret: 'whsec_wrong' }]],
    ['stale timestamp', [event(), { timestamp: nowSeconds() - 301 }]],
    ['missing header', [event(), { header: null }]],
    ['garbage header', [event(), { header: 't=1,v1=abc' }]],
    ["another project's secret", [event(), { secret: other.webhookSecret }]],
    ['signed but not JSON', ['{"id": "evt_1", "type": ', {}]],
  ];
  for (const [name, args] of attempts) {
    const answer = await h.post(...args);
    t.is(answer.status, 400, name);
  }
  t.is(await receiptsOf(projectId), 0);
  t.is(await subscriptionsOf(projectId), 0);
});

test.serial(
  'a signature or event time from beyond the tolerance in the future is 400',
  async (t) => {
    const projectId = h.project.projectId;
    const future = nowSeconds() + 3600;
    const attempts: Array<[string, Parameters<BillingHarness['post']>]> = [
      ['signed an hour ahead', [event(), { timestamp: future }]],
      // A minute past the tolerance: a slow machine's delay between signing
      // and checking must not bring it back inside (301 s did, under load).
      ['signed 360 s ahead', [event(), { timestamp: nowSeconds() + 360 }]],
      [
        'created an hour ahead',
        [
          makeEvent({
            type: 'customer.subscription.created',
            object: makeSubscription({ customer: 'cus_future' }),
            created: future,
          }),
          {},
        ],
      ],
    ];
    for (const [name, args] of attempts) {
      const answer = await h.post(...args);
      t.is(answer.status, 400, name);
    }
    t.is(await receiptsOf(projectId), 0);
    t.is(await subscriptionsOf(projectId), 0);
  },
);

test.serial('the genuine event is accepted once the forgeries are gone', async (t) => {
  const answer = await h.post(event());
  t.is(answer.status, 200);
  t.is(await receiptsOf(h.project.projectId), 1);
});

test('a body over the limit is 413 and stores nothing', async (t) => {
  const big = makeEvent({
    type: 'customer.subscription.created',
    object: makeSubscription({ customer: 'cus_big', metadata: { blob: 'x'.repeat(70_000) } }),
  });
  const project = await h.addProject('big');
  const answer = await h.post(big, { projectId: project.projectId, secret: project.webhookSecret });
  t.is(answer.status, 413);
  t.is(await receiptsOf(project.projectId), 0);
});

test('an unknown project is 404', async (t) => {
  const answer = await h.post(event(), { projectId: 'proj_doesnotexist' });
  t.is(answer.status, 404);
});

test('only POST is accepted', async (t) => {
  const response = await fetch(`${h.server.baseUrl}/webhooks/stripe/${h.project.projectId}`);
  t.is(response.status, 405);
});
