/**
 * ReserveUsage then CommitReservation, as a product that holds an amount
 * before the work and records it after: ghz cannot chain the reservation
 * id into the commit, so this process drives the pairs over gRPC
 * (connect-node, a few HTTP/2 connections as ghz uses). A pair is one
 * "request": its latency is the reserve's plus the commit's.
 */
import { randomUUID } from 'node:crypto';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
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
} as const;

const connections = 4;

export async function reserveCommitLoad(options: ReserveCommitOptions): Promise<Result> {
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
        const held = await client.reserveUsage(
          { customerId, feature: options.feature, amount: 1n, idempotencyKey: randomUUID() },
          { headers },
        );
        await client.commitReservation(
          { customerId, reservationId: held.reservationId },
          { headers },
        );
        return undefined;
      } catch (err) {
        return errorName(err);
      }
    },
  }).finally(() => {
    for (const session of sessions) session.abort();
  });
  return closedLoopResult(reserveCommitScenario, figures);
}

/**
 * The status code to count; a build without the reservation RPCs cannot
 * run the scenario at all: that throws, saying so, instead of counting errors.
 */
function errorName(err: unknown): string {
  const connectError = ConnectError.from(err);
  if (connectError.code !== Code.Unimplemented) return Code[connectError.code];
  throw new Error(
    `the service answered UNIMPLEMENTED (${connectError.rawMessage}): ` +
      'the scenario needs ReserveUsage and CommitReservation',
    { cause: err },
  );
}
