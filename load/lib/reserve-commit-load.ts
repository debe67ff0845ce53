/**
 * ReserveUsage then CommitReservation, as a product that holds an amount
 * before the work and records it after: ghz cannot chain the reservation
 * id into the commit, so this process drives the pairs over gRPC
 * (connect-node, a few HTTP/2 connections as ghz uses). A pair is one
 * "request": its latency is the reserve's plus the commit's. The same
 * driver runs `track-pair` (two TrackUsage per iteration, two ledger
 * inserts as a reserve and commit are), so a pair of each compares on
 * the same client path.
 */
import { randomUUID } from 'node:crypto';
import { type Client, Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { EntitlementsService } from '../../gen/billing/v1/entitlements_pb.js';
import { closedLoop, closedLoopResult } from './closed-loop.js';
import type { Result } from './results.js';

export interface ReserveCommitOptions {
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly feature: string;
  /** The n-th pair's customer. */
  readonly customerId: (n: number) => string;
  readonly concurrency: number;
  readonly seconds: number;
}

export const reserveCommitScenario = {
  name: 'reserve-commit',
  description:
    'ReserveUsage of 1 then CommitReservation of it, one pair per request, many customers',
  needs: 'ReserveUsage and CommitReservation',
} as const;

export const trackPairScenario = {
  name: 'track-pair',
  description:
    'Two TrackUsage of 1, one pair per request, many customers (the reference for pairs)',
  needs: 'TrackUsage',
} as const;

const connections = 4;

type EntitlementsClient = Client<typeof EntitlementsService>;
type PairCall = (
  client: EntitlementsClient,
  customerId: string,
  headers: Record<string, string>,
) => Promise<void>;

export function reserveCommitLoad(options: ReserveCommitOptions): Promise<Result> {
  return pairLoad(options, reserveCommitScenario, async (client, customerId, headers) => {
    const held = await client.reserveUsage(
      { customerId, feature: options.feature, amount: 1n, idempotencyKey: randomUUID() },
      { headers },
    );
    await client.commitReservation({ customerId, reservationId: held.reservationId }, { headers });
  });
}

export function trackPairLoad(options: ReserveCommitOptions): Promise<Result> {
  return pairLoad(options, trackPairScenario, async (client, customerId, headers) => {
    for (let i = 0; i < 2; i++) {
      await client.trackUsage(
        { customerId, feature: options.feature, amount: 1n, idempotencyKey: randomUUID() },
        { headers },
      );
    }
  });
}

async function pairLoad(
  options: ReserveCommitOptions,
  scenario: { readonly name: string; readonly description: string; readonly needs: string },
  pair: PairCall,
): Promise<Result> {
  const sessions = Array.from(
    { length: Math.min(options.concurrency, connections) },
    () => new Http2SessionManager(options.baseUrl),
  );
  const clients = sessions.map((sessionManager) =>
    createClient(
      EntitlementsService,
      createGrpcTransport({ baseUrl: options.baseUrl, sessionManager }),
    ),
  );
  const headers = { authorization: `Bearer ${options.apiKey}` };
  const figures = await closedLoop({
    concurrency: options.concurrency,
    seconds: options.seconds,
    call: async (n) => {
      const client = clients[n % clients.length];
      if (!client) throw new Error('no client');
      const customerId = options.customerId(n);
      try {
        await pair(client, customerId, headers);
        return undefined;
      } catch (err) {
        return errorName(err, scenario.needs);
      }
    },
  }).finally(() => {
    for (const session of sessions) session.abort();
  });
  return closedLoopResult(scenario, figures);
}

/**
 * The status code to count; a build without the reservation RPCs cannot
 * run the scenario at all: that throws, saying so, instead of counting errors.
 */
function errorName(err: unknown, needs: string): string {
  const connectError = ConnectError.from(err);
  if (connectError.code !== Code.Unimplemented) return Code[connectError.code];
  throw new Error(
    `the service answered UNIMPLEMENTED (${connectError.rawMessage}): ` +
      `the scenario needs ${needs}`,
    { cause: err },
  );
}
