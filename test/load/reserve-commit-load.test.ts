/**
 * The ReserveUsage+CommitReservation driver of `npm run bench:usage`
 * (load/lib/reserve-commit-load.ts) against a small gRPC server of its own
 * on port 0: each commit carries the reservation id its reserve answered,
 * failed pairs are counted by status code, and a service without the
 * reservation RPCs stops the scenario with a message that says so.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type ConnectRouter, type ServiceImpl } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import test from 'ava';
import {
  CommitReservationResponseSchema,
  EntitlementsService,
  ReserveUsageResponseSchema,
  TrackUsageResponseSchema,
} from '../../gen/billing/v1/entitlements_pb.js';
import { reserveCommitLoad, trackPairLoad } from '../../load/lib/reserve-commit-load.js';

type Reservations = Pick<
  ServiceImpl<typeof EntitlementsService>,
  'reserveUsage' | 'commitReservation'
>;

/** Reservations held by customer; a commit must name one held for its customer. */
class FakeReservations {
  readonly held = new Map<string, string>();
  readonly committed: string[] = [];
  readonly keys = new Set<string>();
  authorization = '';

  constructor(private readonly refuseCommits = false) {}

  impl(): Reservations {
    return {
      reserveUsage: (req, context) => {
        this.authorization = context.requestHeader.get('authorization') ?? '';
        this.keys.add(req.idempotencyKey);
        const reservationId = `rsv_${this.held.size + 1}`;
        this.held.set(reservationId, req.customerId);
        return create(ReserveUsageResponseSchema, { reservationId });
      },
      commitReservation: (req) => {
        if (this.refuseCommits) throw new ConnectError('expired', Code.FailedPrecondition);
        if (this.held.get(req.reservationId) !== req.customerId)
          throw new ConnectError('no such reservation', Code.NotFound);
        this.committed.push(req.reservationId);
        return create(CommitReservationResponseSchema, { usageId: `usg_${req.reservationId}` });
      },
    };
  }
}

async function serve(
  t: { teardown(fn: () => void): void },
  routes: (router: ConnectRouter) => void,
): Promise<string> {
  const server = http2.createServer(connectNodeAdapter({ routes }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const options = {
  apiKey: 'bk_0123456789abcdef_secret',
  feature: 'api_requests',
  customerId: (n: number) => `usage-${n % 3}`,
  concurrency: 4,
  seconds: 0.3,
};

test('every pair commits the reservation its reserve answered, with a new key each', async (t) => {
  const fake = new FakeReservations();
  const baseUrl = await serve(t, (router) => router.service(EntitlementsService, fake.impl()));
  const result = await reserveCommitLoad({ ...options, baseUrl });
  t.true(result.requests > 0, 'pairs ran');
  t.is(result.errors, 0);
  t.is(fake.committed.length, result.requests, 'one commit per pair');
  t.is(fake.keys.size, fake.held.size, 'no idempotency key used twice');
  t.is(fake.authorization, `Bearer ${options.apiKey}`);
  t.true(result.rps > 0 && result.p99Ms >= result.p50Ms);
});

test('failed pairs are counted by status code, not as throughput, and the run goes on', async (t) => {
  const fake = new FakeReservations(true);
  const baseUrl = await serve(t, (router) => router.service(EntitlementsService, fake.impl()));
  const result = await reserveCommitLoad({ ...options, baseUrl });
  t.true(result.requests > 1);
  t.is(result.errors, result.requests);
  t.deepEqual(result.statusCodes, { FailedPrecondition: result.requests });
  t.is(result.rps, 0, 'failed pairs are no throughput');
});

test('a service without ReserveUsage stops the scenario, saying UNIMPLEMENTED', async (t) => {
  const baseUrl = await serve(t, (router) => router.service(EntitlementsService, {}));
  const error = await t.throwsAsync(reserveCommitLoad({ ...options, baseUrl }));
  t.regex(error?.message ?? '', /UNIMPLEMENTED.*needs ReserveUsage and CommitReservation/);
});

test('track-pair sends two TrackUsage per pair, each with a new key, on the same driver', async (t) => {
  const keys: string[] = [];
  const baseUrl = await serve(t, (router) =>
    router.service(EntitlementsService, {
      trackUsage: (req) => {
        keys.push(req.idempotencyKey);
        return create(TrackUsageResponseSchema, { usageId: `usg_${keys.length}` });
      },
    }),
  );
  const result = await trackPairLoad({ ...options, baseUrl });
  t.true(result.requests > 0, 'pairs ran');
  t.is(result.errors, 0);
  t.is(result.scenario, 'track-pair');
  t.true(keys.length >= 2 * result.requests, 'two tracks per pair');
  t.is(new Set(keys).size, keys.length, 'no idempotency key used twice');
});
