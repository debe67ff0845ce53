/** Writes bench:memory's figures (memory.json, memory.md) with its two budgets judged. */
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** process.memoryUsage() in the service right after a forced full collection. */
export interface CollectedMemory {
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly externalBytes: number;
  readonly arrayBuffersBytes: number;
}

export interface MemoryReading {
  /** As /metrics reports it (garbage not yet collected included). */
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly afterGc: CollectedMemory;
}

export interface MemoryRun {
  readonly customers: number;
  /** Customers checked between `halfCached` and `cached`. */
  readonly secondHalfCustomers: number;
  readonly streams: number;
  readonly before: MemoryReading;
  /** After the first half of the customers. */
  readonly halfCached: MemoryReading;
  /** After every customer was checked once (each in the in-process cache). */
  readonly cached: MemoryReading;
  /** After the streams opened, too. */
  readonly streaming: MemoryReading;
}

/** Issue 14, item 6: per cached customer, and in all for 10,000 streams and 100,000 customers. */
const maxBytesPerCustomer = 1024;
const maxRssBytes = 500 * 1024 * 1024;
const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

/**
 * Growth per customer and per stream of each figure: per customer over all
 * customers after the warm-up, and over the second half alone (a check: RSS
 * moves by whole pages V8 and malloc keep or give back, so a few megabytes
 * of growth are within its noise; heap after a collection is not).
 */
function growth(run: MemoryRun, figure: (r: MemoryReading) => number) {
  return {
    perCustomer: Math.round((figure(run.cached) - figure(run.before)) / run.customers),
    secondHalf: Math.round((figure(run.cached) - figure(run.halfCached)) / run.secondHalfCustomers),
    perStream: Math.round((figure(run.streaming) - figure(run.cached)) / run.streams),
  };
}

export async function writeMemoryResults(dir: string, run: MemoryRun): Promise<string> {
  const rss = growth(run, (r) => r.afterGc.rssBytes);
  const heap = growth(run, (r) => r.afterGc.heapUsedBytes);
  const external = growth(run, (r) => r.afterGc.externalBytes);
  const rawRss = growth(run, (r) => r.rssBytes);
  const rawHeap = growth(run, (r) => r.heapUsedBytes);
  // RSS moves by pages kept or given back: when it grew less than the live
  // heap did, it is within its noise, and the heap's growth is the figure.
  const judgedCustomer = Math.max(rss.perCustomer, heap.perCustomer);
  const judgedStream = Math.max(rss.perStream, heap.perStream);
  // What 100,000 customers and 10,000 streams would take, from the growth per each.
  const projectedRss =
    run.before.afterGc.rssBytes + judgedCustomer * 100_000 + judgedStream * 10_000;
  const summary = {
    measuredAt: new Date().toISOString(),
    machine: `${os.cpus().length} cores`,
    node: process.version,
    loadAverage: os.loadavg().map((l) => Math.round(l * 10) / 10),
    ...run,
    judgedBy:
      'RSS after a forced full collection, or the heap used after it when that grew more (RSS within its noise)',
    judgedBytesPerCustomer: judgedCustomer,
    judgedBytesPerStream: judgedStream,
    perCustomerRssBytes: rss.perCustomer,
    perCustomerHeapBytes: heap.perCustomer,
    perCustomerExternalBytes: external.perCustomer,
    secondHalfPerCustomer: { rssBytes: rss.secondHalf, heapUsedBytes: heap.secondHalf },
    perStreamRssBytes: rss.perStream,
    perStreamHeapBytes: heap.perStream,
    withoutCollection: {
      perCustomerRssBytes: rawRss.perCustomer,
      perCustomerHeapBytes: rawHeap.perCustomer,
      perStreamRssBytes: rawRss.perStream,
    },
    projectedRssBytesAt100kCustomers10kStreams: projectedRss,
    budgets: {
      bytesPerCachedCustomer: {
        max: maxBytesPerCustomer,
        held: judgedCustomer <= maxBytesPerCustomer,
      },
      rssAt100kCustomers10kStreams: { max: maxRssBytes, held: projectedRss <= maxRssBytes },
    },
  };
  await writeFile(path.join(dir, 'memory.json'), `${JSON.stringify(summary, null, 2)}\n`);
  const step = (name: string, r: MemoryReading) =>
    `| ${name} | ${mib(r.afterGc.rssBytes)} | ${mib(r.afterGc.heapUsedBytes)} | ${mib(r.afterGc.externalBytes)} | ${mib(r.rssBytes)} | ${mib(r.heapUsedBytes)} |`;
  const held = (yes: boolean) => (yes ? 'yes' : '**no**');
  const table = [
    `Measured ${summary.measuredAt} on ${summary.machine} (${summary.node}), load average ${summary.loadAverage.join(' ')}.`,
    `- ${run.customers} customers checked once each after a warm-up (each cached in process), then ${run.streams} WatchEntitlements streams opened (8 HTTP/2 connections)`,
    "- after GC: the service's process.memoryUsage() right after a forced full collection (benchmark-only probe, load/lib/memory-probe.ts); /metrics: its process_resident_memory_bytes and nodejs_heap_size_used_bytes, garbage included",
    `- the budgets are judged by RSS after the collection (by the heap used after it where that grew more: RSS moves by whole pages kept or given back, so a smaller growth is within its noise), per customer over the ${run.customers} customers after the warm-up (the first tenth: JIT, pools and V8's young generation reach their working size); the second half alone (${run.secondHalfCustomers}) is a check`,
    '',
    '| step | RSS MiB after GC | heap used MiB after GC | external MiB after GC | RSS MiB (/metrics) | heap used MiB (/metrics) |',
    '|---|---|---|---|---|---|',
    step('before', run.before),
    step('half the customers cached', run.halfCached),
    step('customers cached', run.cached),
    step('streams open', run.streaming),
    '',
    '| figure | value | budget | held |',
    '|---|---|---|---|',
    `| per cached customer after GC, judged | ${judgedCustomer} B (RSS ${rss.perCustomer} B, heap ${heap.perCustomer} B, external ${external.perCustomer} B; second half: RSS ${rss.secondHalf} B, heap ${heap.secondHalf} B; /metrics without GC: RSS ${rawRss.perCustomer} B, heap ${rawHeap.perCustomer} B) | <= ${maxBytesPerCustomer} B | ${held(summary.budgets.bytesPerCachedCustomer.held)} |`,
    `| per open stream after GC, judged | ${judgedStream} B (RSS ${rss.perStream} B, heap ${heap.perStream} B; /metrics without GC: ${rawRss.perStream} B) | | |`,
    `| RSS at 100,000 customers + 10,000 streams (projected) | ${mib(projectedRss)} MiB | <= 500 MiB | ${held(summary.budgets.rssAt100kCustomers10kStreams.held)} |`,
    '',
  ].join('\n');
  await writeFile(path.join(dir, 'memory.md'), table);
  return table;
}
