/**
 * WatchEntitlements fan-out: many streams watch one customer, one change is
 * made, and every stream's arrival time is measured from the change.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type Client, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { AdminService } from '../../gen/billing/v1/admin_pb.js';
import { EntitlementsService, WatchEventKind } from '../../gen/billing/v1/entitlements_pb.js';
import { percentiles, type Result } from './results.js';

export interface FanoutOptions {
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly streams: number;
  /** Changes measured one after another; each is one grant of a new feature. */
  readonly changes: number;
}

export async function watchFanout(options: FanoutOptions): Promise<Result> {
  const headers = { authorization: `Bearer ${options.apiKey}` };
  // A few HTTP/2 connections, as a load balancer in front of replicas would have.
  const clients: Client<typeof EntitlementsService>[] = Array.from({ length: 8 }, () =>
    createClient(EntitlementsService, createGrpcTransport({ baseUrl: options.baseUrl })),
  );
  const admin = createClient(AdminService, createGrpcTransport({ baseUrl: options.baseUrl }));
  const customerId = `fanout-${Date.now()}`;
  const abort = new AbortController();
  const arrivals: number[] = [];
  let waiting: { count: number; changedAt: number; done: () => void } | undefined;
  const opened: Promise<void>[] = [];
  for (let i = 0; i < options.streams; i++) {
    const client = clients[i % clients.length];
    if (!client) continue;
    let ready: () => void = () => {};
    opened.push(new Promise((resolve) => (ready = resolve)));
    void (async () => {
      try {
        for await (const message of client.watchEntitlements(
          { customerId },
          { headers, signal: abort.signal },
        )) {
          if (message.kind === WatchEventKind.SNAPSHOT) ready();
          if (message.kind === WatchEventKind.CHANGE && waiting) {
            arrivals.push(performance.now() - waiting.changedAt);
            waiting.count -= 1;
            if (waiting.count === 0) waiting.done();
          }
        }
      } catch {
        // Aborted at the end.
      }
    })();
  }
  await Promise.all(opened);
  let errors = 0;
  const started = performance.now();
  for (let change = 0; change < options.changes; change++) {
    const allArrived = new Promise<void>((resolve) => {
      waiting = { count: options.streams, changedAt: performance.now(), done: resolve };
    });
    await admin.grantEntitlement(
      { customerId, feature: `f${change}`, reason: 'fan-out benchmark' },
      { headers },
    );
    const timedOut = await Promise.race([
      allArrived.then(() => false),
      sleep(10_000).then(() => true),
    ]);
    if (timedOut) errors += waiting?.count ?? 0;
  }
  const elapsed = (performance.now() - started) / 1000;
  abort.abort();
  const { p50, p95, p99 } = percentiles(arrivals);
  return {
    scenario: 'watch-fanout',
    description: `${options.streams} streams on one customer, time from a grant to each stream's CHANGE`,
    concurrency: options.streams,
    requests: arrivals.length,
    rps: Math.round(arrivals.length / elapsed),
    p50Ms: p50,
    p95Ms: p95,
    p99Ms: p99,
    errors,
  };
}
