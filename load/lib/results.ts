/**
 * One benchmark figure, ratios to a reference measured in the same run, the
 * budgets they are judged by, and the results files (JSON and a Markdown
 * table).
 */
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { nearestRank, sortedAscending } from './percentile.js';

export interface Result {
  readonly scenario: string;
  readonly description: string;
  readonly concurrency: number;
  readonly requests: number;
  /** Requests (or events) per second that succeeded: failed calls are in `errors` only. */
  readonly rps: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  /** Requests per second offered by the load generator; unset: as fast as it went. */
  readonly offeredRps?: number;
  /** Non-OK status codes seen, by name (JSON only). */
  readonly statusCodes?: Readonly<Record<string, number>>;
  ratioToCeiling?: number;
  /** req/s over the `reference` scenario's at the same concurrency (usage.md). */
  ratio?: { readonly reference: string; readonly value: number };
  /**
   * Against each reference server measured in the same run, at the same
   * concurrency (reference-servers.ts): req/s over its req/s, p99 over its p99.
   */
  references?: Record<string, ReferenceRatio>;
}

export interface ReferenceRatio {
  readonly rps: number;
  readonly p99: number;
}

/** A budget: `scenario`'s ratio to its reference must be at least `minimum`. */
export interface Budget {
  readonly budget: string;
  readonly scenario: string;
  readonly minimum: number;
}

/** A budget judged at one concurrency. */
export interface BudgetVerdict extends Budget {
  readonly concurrency: number;
  readonly reference: string;
  readonly ratio: number;
  readonly held: boolean;
}

export const round = (value: number) => Math.round(value * 100) / 100;

/** Latency percentiles (nearest rank, ./percentile.ts) of a list of durations in milliseconds. */
export function percentiles(durationsMs: readonly number[]): {
  p50: number;
  p95: number;
  p99: number;
  max: number;
} {
  const sorted = sortedAscending(durationsMs);
  return {
    p50: round(nearestRank(sorted, 50)),
    p95: round(nearestRank(sorted, 95)),
    p99: round(nearestRank(sorted, 99)),
    max: round(sorted.at(-1) ?? Number.NaN),
  };
}

export function addRatios(results: Result[], ceilingScenario: string): void {
  for (const result of results) {
    // A fixed offered rate is not a throughput: no ratio.
    if (result.offeredRps !== undefined) continue;
    const ceiling = results.find(
      (r) => r.scenario === ceilingScenario && r.concurrency === result.concurrency,
    );
    if (ceiling && ceiling.rps > 0) result.ratioToCeiling = round(result.rps / ceiling.rps);
  }
}

/** Sets `ratio` on every result of `scenario` whose `reference` ran at the same concurrency. */
export function addRatiosTo(results: Result[], scenario: string, reference: string): void {
  for (const result of results) {
    if (result.scenario !== scenario) continue;
    const base = results.find(
      (r) => r.scenario === reference && r.concurrency === result.concurrency,
    );
    if (base && base.rps > 0) result.ratio = { reference, value: round(result.rps / base.rps) };
  }
}

/** Sets `references` on every result with a throughput, against each of `referenceNames`. */
export function addReferenceRatios(results: Result[], referenceNames: readonly string[]): void {
  for (const result of results) {
    if (result.offeredRps !== undefined) continue;
    const ratios: Record<string, ReferenceRatio> = {};
    for (const name of referenceNames) {
      const base = results.find((r) => r.scenario === name && r.concurrency === result.concurrency);
      if (!base || base.rps <= 0 || base.offeredRps !== undefined) continue;
      ratios[name] = { rps: round(result.rps / base.rps), p99: round(result.p99Ms / base.p99Ms) };
    }
    if (Object.keys(ratios).length > 0) result.references = ratios;
  }
}

/** Each budget at every concurrency its scenario has a ratio for. */
export function judgeBudgets(
  results: readonly Result[],
  budgets: readonly Budget[],
): BudgetVerdict[] {
  return budgets.flatMap((budget) =>
    results.flatMap((r) =>
      r.scenario === budget.scenario && r.ratio
        ? [
            {
              ...budget,
              concurrency: r.concurrency,
              reference: r.ratio.reference,
              ratio: r.ratio.value,
              held: r.ratio.value >= budget.minimum,
            },
          ]
        : [],
    ),
  );
}

/**
 * Writes `<name>.json` and `<name>.md`, keeping the figures of scenarios that
 * did not run this time; `budgets` are judged on the merged figures.
 */
export async function writeResults(
  dir: string,
  name: string,
  results: Result[],
  notes: readonly string[],
  budgets: readonly Budget[] = [],
): Promise<string> {
  const file = path.join(dir, `${name}.json`);
  // Keep the other scenarios' latest figures when only some ran.
  const previous = await readFile(file, 'utf8')
    .then((text) => JSON.parse(text) as { results: Result[] })
    .catch(() => ({ results: [] as Result[] }));
  const fresh = new Set(results.map((r) => `${r.scenario}@${r.concurrency}`));
  const merged = [
    ...previous.results.filter((r) => !fresh.has(`${r.scenario}@${r.concurrency}`)),
    ...results,
  ];
  const meta = {
    measuredAt: new Date().toISOString(),
    machine: `${os.cpus().length} cores`,
    node: process.version,
    notes,
  };
  const verdicts = judgeBudgets(merged, budgets);
  const judged = verdicts.length > 0 ? { budgets: verdicts } : {};
  await writeFile(file, `${JSON.stringify({ ...meta, ...judged, results: merged }, null, 2)}\n`);
  const byReference = merged.some((r) => r.ratio);
  const ratioCell = (r: Result) =>
    byReference
      ? r.ratio
        ? `${r.ratio.value} to ${r.ratio.reference}`
        : ''
      : (r.ratioToCeiling ?? '');
  const referenceNames = [...new Set(merged.flatMap((r) => Object.keys(r.references ?? {})))];
  const referenceCells = (r: Result) =>
    referenceNames.map((name) => {
      const ratio = r.references?.[name];
      return ratio ? ` ${ratio.rps} / ${ratio.p99} |` : ' |';
    });
  const rows = merged.map(
    (r) =>
      `| ${r.scenario} | ${r.concurrency} | ${r.rps} | ${r.p50Ms} | ${r.p95Ms} | ${r.p99Ms} | ${ratioCell(r)} |${referenceCells(r).join('')} ${r.errors} |`,
  );
  const referenceHeads = referenceNames.map((name) => ` x ${name} (req/s / p99) |`).join('');
  const table = [
    `Measured ${meta.measuredAt} on ${meta.machine} (${meta.node}).`,
    ...notes.map((note) => `- ${note}`),
    '',
    `| scenario | concurrency | req/s | p50 ms | p95 ms | p99 ms | ${byReference ? 'ratio' : 'ratio to ceiling'} |${referenceHeads} errors |`,
    `|---|---|---|---|---|---|---|${'---|'.repeat(referenceNames.length)}---|`,
    ...rows,
    ...budgetTable(verdicts),
    '',
  ].join('\n');
  await writeFile(path.join(dir, `${name}.md`), table);
  return table;
}

function budgetTable(verdicts: readonly BudgetVerdict[]): string[] {
  if (verdicts.length === 0) return [];
  return [
    '',
    '| budget | scenario | concurrency | ratio | minimum | held |',
    '|---|---|---|---|---|---|',
    ...verdicts.map(
      (v) =>
        `| ${v.budget} | ${v.scenario} | ${v.concurrency} | ${v.ratio} to ${v.reference} | ${v.minimum} | ${v.held ? 'yes' : '**no**'} |`,
    ),
  ];
}
