/** Writes bench:memory's figures (memory.json, memory.md) with its two budgets judged. */
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface MemoryReading {
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
}

export interface MemoryRun {
  readonly customers: number;
  readonly streams: number;
  readonly before: MemoryReading;
  /** After every customer was checked once (each in the in-process cache). */
  readonly cached: MemoryReading;
  /** After the streams opened, too. */
  readonly streaming: MemoryReading;
}

/** Issue 14, item 6: per cached customer, and in all for 10,000 streams and 100,000 customers. */
const maxBytesPerCustomer = 1024;
const maxRssBytes = 500 * 1024 * 1024;
const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

export async function writeMemoryResults(dir: string, run: MemoryRun): Promise<string> {
  const perCustomerRss = Math.round((run.cached.rssBytes - run.before.rssBytes) / run.customers);
  const perCustomerHeap = Math.round(
    (run.cached.heapUsedBytes - run.before.heapUsedBytes) / run.customers,
  );
  const perStreamRss = Math.round((run.streaming.rssBytes - run.cached.rssBytes) / run.streams);
  // What 100,000 customers and 10,000 streams would take, from the growth per each.
  const projectedRss = run.before.rssBytes + perCustomerRss * 100_000 + perStreamRss * 10_000;
  const summary = {
    measuredAt: new Date().toISOString(),
    machine: `${os.cpus().length} cores`,
    node: process.version,
    ...run,
    perCustomerRssBytes: perCustomerRss,
    perCustomerHeapBytes: perCustomerHeap,
    perStreamRssBytes: perStreamRss,
    projectedRssBytesAt100kCustomers10kStreams: projectedRss,
    budgets: {
      bytesPerCachedCustomer: {
        max: maxBytesPerCustomer,
        held: perCustomerRss <= maxBytesPerCustomer,
      },
      rssAt100kCustomers10kStreams: { max: maxRssBytes, held: projectedRss <= maxRssBytes },
    },
  };
  await writeFile(path.join(dir, 'memory.json'), `${JSON.stringify(summary, null, 2)}\n`);
  const table = [
    `Measured ${summary.measuredAt} on ${summary.machine} (${summary.node}).`,
    `- ${run.customers} customers checked once each (each cached in process), then ${run.streams} WatchEntitlements streams opened (8 HTTP/2 connections)`,
    "- the service's own process_resident_memory_bytes and nodejs_heap_size_used_bytes (/metrics); heap used includes garbage not yet collected",
    '',
    '| step | RSS MiB | heap used MiB |',
    '|---|---|---|',
    `| before | ${mib(run.before.rssBytes)} | ${mib(run.before.heapUsedBytes)} |`,
    `| customers cached | ${mib(run.cached.rssBytes)} | ${mib(run.cached.heapUsedBytes)} |`,
    `| streams open | ${mib(run.streaming.rssBytes)} | ${mib(run.streaming.heapUsedBytes)} |`,
    '',
    '| figure | value | budget | held |',
    '|---|---|---|---|',
    `| RSS per cached customer | ${perCustomerRss} B (heap ${perCustomerHeap} B) | <= ${maxBytesPerCustomer} B | ${summary.budgets.bytesPerCachedCustomer.held ? 'yes' : '**no**'} |`,
    `| RSS per open stream | ${perStreamRss} B | | |`,
    `| RSS at 100,000 customers + 10,000 streams (projected) | ${mib(projectedRss)} MiB | <= 500 MiB | ${summary.budgets.rssAt100kCustomers10kStreams.held ? 'yes' : '**no**'} |`,
    '',
  ].join('\n');
  await writeFile(path.join(dir, 'memory.md'), table);
  return table;
}
