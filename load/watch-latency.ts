/**
 * `npm run bench:watch`: how long a Stripe webhook takes to reach a
 * WatchEntitlements stream on another replica (DESIGN.md budget: p99 under
 * 50 ms).
 *
 * FerretDB and Redis on loopback; two service processes (src/main.ts), A and
 * B, sharing them. A stream is opened on B (gRPC, connect-node) for one
 * customer; then signed `customer.subscription.updated` events, each with a
 * new seat quantity, are posted to A one after another. A latency is the
 * time from sending the POST to receiving the CHANGE that carries that
 * quantity on B. The first BENCH_WATCH_WARMUP (50) changes are not counted;
 * BENCH_WATCH_CHANGES (1000) are.
 *
 * Writes load/results/watch-latency.json and load/results/watch-latency.md.
 */

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import {
  EntitlementsService,
  type WatchEntitlementsResponse,
  WatchEventKind,
} from '../gen/billing/v1/entitlements_pb.js';
import { REPO_ROOT, startFerretDb, startRedis } from '../scripts/lib/local-services.js';
import type { SeededProject } from './lib/bench-project.js';
import { type Summary, summarize } from './lib/latency-summary.js';
import { type SeatCustomer, seatChanges, seedSeatProject } from './lib/seat-customer.js';
import { type ServerProcess, spawnService } from './lib/server-process.js';

const changes = Number(process.env.BENCH_WATCH_CHANGES ?? 1000);
const warmup = Number(process.env.BENCH_WATCH_WARMUP ?? 50);
const budgetMs = 50;
/** A change that has not arrived after this long fails the run. */
const changeTimeoutMs = 10_000;

const seatCustomer: SeatCustomer = {
  customerId: 'watch-bench-user',
  stripeCustomerId: 'cus_watchbench0001',
  subscriptionId: 'sub_watchbench0001',
  webhookSecret: 'whsec_watch_latency_benchmark_secret',
};
const { customerId } = seatCustomer;

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'bench-watch-'));
  const ferret = await startFerretDb({ dataDir: path.join(work, 'ferretdb') });
  const redis = await startRedis();
  const env = {
    MONGODB_URL: ferret.url,
    MONGODB_DATABASE: 'watch_bench',
    REDIS_URL: redis.url,
    MASTER_KEYS: `bench:${randomBytes(32).toString('base64')}`,
    // Nothing in this run may call Stripe: a closed port makes any call fail loudly.
    STRIPE_API_URL: 'http://127.0.0.1:9',
    RECONCILIATION_CRON: 'off',
  };
  const servers: ServerProcess[] = [];
  try {
    const seeded = await seedSeatProject(env, 'watch latency bench', seatCustomer);
    const a = await spawnService(env);
    servers.push(a);
    const b = await spawnService(env);
    servers.push(b);
    const measured = await measure(seeded, a.port, b.port);
    await writeResults(measured);
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    await redis.stop();
    await ferret.stop();
    await rm(work, { recursive: true, force: true });
  }
}

async function measure(
  seeded: SeededProject,
  portA: number,
  portB: number,
): Promise<{ latency: Summary; ack: Summary }> {
  const client = createClient(
    EntitlementsService,
    createGrpcTransport({ baseUrl: `http://127.0.0.1:${portB}` }),
  );
  const abort = new AbortController();
  const stream = client
    .watchEntitlements(
      { customerId },
      { headers: { authorization: `Bearer ${seeded.apiKey}` }, signal: abort.signal },
    )
    [Symbol.asyncIterator]();
  const first = await nextUpdate(stream);
  if (first.kind !== WatchEventKind.SNAPSHOT)
    throw new Error('the stream did not start with a snapshot');

  const webhookUrl = `http://127.0.0.1:${portA}/webhooks/stripe/${seeded.projectId}`;
  const signedChange = seatChanges(seatCustomer, warmup + changes);
  const latencies: number[] = [];
  const acks: number[] = [];
  try {
    for (let i = 0; i < warmup + changes; i += 1) {
      const quantity = 2 + (i % 500);
      const signed = signedChange(i, quantity);
      const sent = performance.now();
      const posted = fetch(webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'stripe-signature': signed.header },
        body: signed.body,
      }).then(async (response) => {
        const answer = await response.text();
        if (response.status !== 200) throw new Error(`webhook ${i}: ${response.status} ${answer}`);
        return performance.now();
      });
      const received = await changeWithSeats(stream, BigInt(quantity));
      const answered = await posted;
      if (i >= warmup) {
        latencies.push(received - sent);
        acks.push(answered - sent);
      }
      if ((i + 1) % 250 === 0) {
        const recent = summarize(latencies.slice(-250));
        process.stderr.write(
          `[bench:watch] ${i + 1} changes; last ${recent.count}: p50 ${recent.p50} ms, p99 ${recent.p99} ms\n`,
        );
      }
    }
  } finally {
    abort.abort();
  }
  return { latency: summarize(latencies), ack: summarize(acks) };
}

type Stream = AsyncIterator<WatchEntitlementsResponse>;

async function nextUpdate(stream: Stream): Promise<WatchEntitlementsResponse> {
  for (;;) {
    const next = await stream.next();
    if (next.done) throw new Error('the stream ended');
    if (next.value.kind !== WatchEventKind.HEARTBEAT) return next.value;
  }
}

/** When the message showing `seats` = `limit` arrived (performance.now()). */
async function changeWithSeats(stream: Stream, limit: bigint): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no change to ${limit} seats within ${changeTimeoutMs} ms`)),
      changeTimeoutMs,
    );
  });
  try {
    for (;;) {
      const message = await Promise.race([nextUpdate(stream), timeout]);
      const at = performance.now();
      const seats = message.entitlements.find((e) => e.feature === 'seats')?.limit;
      if (seats === limit) return at;
    }
  } finally {
    clearTimeout(timer);
  }
}

async function writeResults(measured: { latency: Summary; ack: Summary }): Promise<void> {
  const dir = path.join(REPO_ROOT, 'load/results');
  const measuredAt = new Date().toISOString();
  const report = {
    measuredAt,
    machine: { cpus: os.cpus().length, node: process.version },
    warmup,
    budgetMs: { p99: budgetMs },
    withinBudget: measured.latency.p99 < budgetMs,
    webhookToStreamMs: measured.latency,
    webhookAnswerMs: measured.ack,
  };
  await writeFile(path.join(dir, 'watch-latency.json'), `${JSON.stringify(report, null, 2)}\n`);
  const row = (name: string, s: Summary) =>
    `| ${name} | ${s.count} | ${s.p50} | ${s.p95} | ${s.p99} | ${s.max} | ${s.mean} |`;
  const markdown = [
    `Measured ${measuredAt} on ${report.machine.cpus} cores (${report.machine.node}).`,
    '- two service processes (A, B) sharing FerretDB (SQLite) and Redis on loopback',
    '- signed `customer.subscription.updated` events, each a new seat quantity, posted to A one after another',
    '- webhook → stream: from sending the POST to A until the CHANGE with that quantity arrives on a WatchEntitlements stream on B (gRPC)',
    `- ${warmup} warm-up changes not counted; budget: p99 under ${budgetMs} ms (${report.withinBudget ? 'met' : 'NOT met'})`,
    '',
    '| measure | count | p50 ms | p95 ms | p99 ms | max ms | mean ms |',
    '|---|---|---|---|---|---|---|',
    row('webhook → stream on B', measured.latency),
    row('webhook answered by A', measured.ack),
    '',
  ].join('\n');
  await writeFile(path.join(dir, 'watch-latency.md'), markdown);
  process.stderr.write(`${markdown}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:watch failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
