// needs: mongodb redis
/**
 * Under start:local the service keeps the sandbox's time: `advance` moves
 * the service's business time with the test clock (scripts/lib/local-stripe.ts,
 * src/domain/business-clock.ts). After a renewal the metered allowance is
 * fresh and new usage counts in the new period; a reservation and a grant
 * expire by clock time, and a watch stream hears of the grant's end at the
 * advance, with no event and no heartbeat (heartbeats are set to 10 minutes);
 * a renewal that fails keeps the feature for the grace period counted in
 * clock time from the failure, and takes it away after.
 *
 * Serial: every test moves the one clock of the stack.
 */
import { durationFromMs, timestampDate, timestampFromMs } from '@bufbuild/protobuf/wkt';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { AdminService } from '../../gen/billing/v1/admin_pb.js';
import { CheckoutMode, CheckoutService } from '../../gen/billing/v1/checkout_pb.js';
import {
  DenialReason,
  EntitlementsService,
  type WatchEntitlementsResponse,
  WatchEventKind,
} from '../../gen/billing/v1/entitlements_pb.js';
import { type LocalStack, startLocalStack } from '../helpers/local-stack.js';

const DAY = 86_400;
const failsLaterCard = '4000000000000341';

let stack: LocalStack;

test.before(async () => {
  stack = await startLocalStack('service clock', {
    WATCH_HEARTBEAT_MS: '600000',
    HTTP_IDLE_TIMEOUT_MS: '660000',
  });
});

test.after.always(async () => {
  await stack?.close();
});

const auth = () => ({ headers: { authorization: `Bearer ${stack.project.adminKey}` } });
const transport = () =>
  createConnectTransport({ baseUrl: stack.server.baseUrl, httpVersion: '1.1' });
const entitlements = () => createClient(EntitlementsService, transport());
const admin = () => createClient(AdminService, transport());

const clockNowMs = () => stack.now().getTime();

async function advance(seconds: number): Promise<void> {
  stack.sandbox.advance(seconds);
  await stack.sandbox.delivery.idle();
}

async function subscribeToPro(customerId: string, card = 'pm_card_visa'): Promise<void> {
  const pro = stack.prices.find((p) => p.name === 'Pro')?.priceId ?? '';
  const session = await createClient(CheckoutService, transport()).createCheckoutSession(
    {
      customerId,
      mode: CheckoutMode.SUBSCRIPTION,
      lineItems: [{ priceId: pro, quantity: 1n }],
      successUrl: 'https://app.example/ok',
      cancelUrl: 'https://app.example/cancel',
    },
    auth(),
  );
  stack.sandbox.completeCheckoutSession(session.sessionId, {
    apiKey: stack.sandbox.accountOfSession(session.sessionId),
    card,
  });
  await stack.sandbox.delivery.idle();
}

const check = async (customerId: string, feature: string) => {
  const answer = await entitlements().checkEntitlement({ customerId, feature }, auth());
  if (!answer.entitlement) throw new Error('no entitlement in the answer');
  return answer.entitlement;
};

test.serial(
  'after advance 31d the allowance is fresh and usage counts in the new period',
  async (t) => {
    await subscribeToPro('clock-metered');
    await entitlements().trackUsage(
      { customerId: 'clock-metered', feature: 'api_requests', amount: 400n, idempotencyKey: 'm-1' },
      auth(),
    );
    const first = await check('clock-metered', 'api_requests');
    t.like(first, { allowed: true, usage: 400n, balance: 99_600n });
    const firstReset = first.resetsAt && timestampDate(first.resetsAt).getTime();

    await advance(31 * DAY);
    const renewed = await check('clock-metered', 'api_requests');
    t.like(renewed, { allowed: true, usage: 0n, balance: 100_000n });
    const secondReset = renewed.resetsAt && timestampDate(renewed.resetsAt).getTime();
    t.true((secondReset ?? 0) > (firstReset ?? 0), 'the period moved on');
    t.true((secondReset ?? 0) > clockNowMs(), 'it resets in the clock time future');

    await entitlements().trackUsage(
      { customerId: 'clock-metered', feature: 'api_requests', amount: 25n, idempotencyKey: 'm-2' },
      auth(),
    );
    t.like(await check('clock-metered', 'api_requests'), { usage: 25n, balance: 99_975n });
  },
);

test.serial('a reservation expires by clock time', async (t) => {
  await subscribeToPro('clock-reserve');
  await entitlements().reserveUsage(
    {
      customerId: 'clock-reserve',
      feature: 'api_requests',
      amount: 500n,
      ttl: durationFromMs(10 * 60_000),
      idempotencyKey: 'r-1',
    },
    auth(),
  );
  t.like(await check('clock-reserve', 'api_requests'), { reserved: 500n, balance: 99_500n });
  await advance(11 * 60);
  t.like(await check('clock-reserve', 'api_requests'), { reserved: 0n, balance: 100_000n });
});

test.serial(
  'a grant ends by clock time; a watch stream hears it at the advance, with no event',
  async (t) => {
    await admin().grantEntitlement(
      {
        customerId: 'clock-grant',
        feature: 'export',
        expiresAt: timestampFromMs(clockNowMs() + 2 * DAY * 1000),
        reason: 'trial extension',
        idempotencyKey: '',
      },
      auth(),
    );
    const abort = new AbortController();
    t.teardown(() => abort.abort());
    const stream = entitlements()
      .watchEntitlements({ customerId: 'clock-grant' }, { ...auth(), signal: abort.signal })
      [Symbol.asyncIterator]();
    const nextMessage = async () => {
      const next = await stream.next();
      if (next.done === true) throw new Error('the stream ended');
      return next.value;
    };
    const hasExport = (message: WatchEntitlementsResponse) =>
      message.entitlements.some((e) => e.feature === 'export' && e.allowed);
    const snapshot = await nextMessage();
    t.is(snapshot.kind, WatchEventKind.SNAPSHOT);
    t.true(hasExport(snapshot));

    const eventsBefore = stack.sandbox.events().length;
    stack.sandbox.advance(3 * DAY);
    const change = await nextMessage();
    t.is(change.kind, WatchEventKind.CHANGE, 'the change, not a heartbeat');
    t.false(hasExport(change));
    t.is(stack.sandbox.events().length, eventsBefore, 'no Stripe event was needed');
    t.like(await check('clock-grant', 'export'), {
      allowed: false,
      denialReason: DenialReason.NO_SOURCE,
    });
  },
);

test.serial(
  'a failed renewal keeps the feature for the grace period in clock time, then ends it',
  async (t) => {
    await subscribeToPro('clock-dunning', failsLaterCard);
    t.true((await check('clock-dunning', 'export')).allowed);

    await advance(31 * DAY);
    const failed = await check('clock-dunning', 'export');
    t.true(failed.allowed, 'in grace');
    t.deepEqual(
      failed.sources.map((s) => s.status),
      ['past_due'],
    );
    // The project's grace is 3 days from the failure; the first retry (day 3) fails too.
    await advance(2 * DAY);
    t.true((await check('clock-dunning', 'export')).allowed, 'two days after the failure');
    await advance(2 * DAY);
    t.like(await check('clock-dunning', 'export'), {
      allowed: false,
      denialReason: DenialReason.PAST_GRACE,
    });
  },
);
