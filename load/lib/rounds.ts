/**
 * Interleaved rounds: scenarios compared with each other run one after the
 * other within each round, so both see the same machine (run in blocks
 * minutes apart, figures on this shared 2-core machine differed by up to
 * 2x), and the median round of each is reported.
 */
import type { Result } from './results.js';

/**
 * `rounds` rounds of every scenario at `concurrency`; the median round of
 * each, in order. `measure` resolves with nothing for a scenario that could
 * not run (it is left out).
 */
export async function interleavedRounds<Scenario extends { readonly name: string }>(
  scenarios: readonly Scenario[],
  concurrency: number,
  rounds: number,
  measure: (scenario: Scenario, concurrency: number) => Promise<Result | undefined>,
): Promise<Result[]> {
  const byScenario = new Map<string, Result[]>();
  for (let roundNo = 0; roundNo < rounds; roundNo += 1) {
    for (const scenario of scenarios) {
      const result = await measure(scenario, concurrency);
      if (result) byScenario.set(scenario.name, [...(byScenario.get(scenario.name) ?? []), result]);
    }
  }
  return [...byScenario.values()].map(medianRound);
}

/** The round with the median requests per second (its percentiles come with it). */
export function medianRound(results: readonly Result[]): Result {
  const sorted = [...results].sort((a, b) => a.rps - b.rps);
  const median = sorted[Math.floor(sorted.length / 2)];
  if (!median) throw new Error('no round ran');
  return median;
}
