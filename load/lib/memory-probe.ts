/**
 * bench:memory's probe, preloaded into the service process by the benchmark
 * only (`--expose-gc --import ./load/lib/memory-probe.ts`): nothing in src/
 * imports it and no RPC reaches it. On SIGUSR2 it collects all garbage,
 * optionally writes a heap snapshot (BENCH_HEAP_SNAPSHOT_DIR), and prints one
 * line with process.memoryUsage() after the collection, which the benchmark
 * reads from the service's stdout. So the per-customer figures can be judged
 * without the garbage a running service has not collected yet.
 */
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import v8 from 'node:v8';

const collect = (globalThis as { gc?: () => void }).gc;

/**
 * V8 hands freed pages back to the system from a background thread after a
 * collection: collect again until RSS stops falling (at most ten rounds).
 */
async function settle(): Promise<void> {
  let previous = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 10; round++) {
    collect?.();
    await delay(100);
    const rss = process.memoryUsage().rss;
    if (rss >= previous * 0.995) return;
    previous = rss;
  }
}

process.on('SIGUSR2', () => void report());

async function report(): Promise<void> {
  await settle();
  // Read before any snapshot: writing one takes memory of its own.
  const usage = process.memoryUsage();
  const dir = process.env.BENCH_HEAP_SNAPSHOT_DIR;
  const snapshot = dir
    ? v8.writeHeapSnapshot(path.join(dir, `service-${Date.now()}.heapsnapshot`))
    : null;
  process.stdout.write(
    `${JSON.stringify({ msg: 'memory-probe', collected: collect !== undefined, snapshot, ...usage })}\n`,
  );
}
