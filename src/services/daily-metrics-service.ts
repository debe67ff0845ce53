/**
 * The business figures over time (ListDailyMetrics, the console's charts).
 * A job takes each project's snapshot of the current UTC day, in business
 * time, several times a day (`takeSnapshots`); the figures are those
 * GetProjectMetrics answers (project-figures-cache.ts), so a snapshot
 * costs no read of the subscriptions. New and churned subscriptions per day
 * are not snapshotted but counted from the stored subscriptions when asked,
 * so they are exact for every day, also before the first snapshot.
 */
import {
  type DailyMetrics,
  type DailySnapshotFigures,
  dayOf,
  daysFrom,
  dayWindow,
} from '../domain/daily-metrics.js';
import type { ProjectFiguresCache } from './project-figures-cache.js';

export interface DailySnapshots {
  save(projectId: string, day: string, figures: DailySnapshotFigures): Promise<void>;
  listDays(
    projectId: string,
    first: string,
    last: string,
  ): Promise<Map<string, DailySnapshotFigures>>;
}

export interface DailyMetricsDeps {
  readonly figures: Pick<ProjectFiguresCache, 'figuresOf'>;
  readonly projects: { listIds(): Promise<string[]> };
  readonly snapshots: DailySnapshots;
  /** Business time: `advance 31d` in the sandbox moves the day too. */
  readonly now: () => Date;
}

export class DailyMetricsService {
  constructor(private readonly deps: DailyMetricsDeps) {}

  /** Takes (or takes again) today's snapshot of every project; answers how many it took. */
  async takeSnapshots(signal?: AbortSignal): Promise<number> {
    let taken = 0;
    for (const projectId of await this.deps.projects.listIds()) {
      if (signal?.aborted) break;
      await this.takeSnapshot(projectId);
      taken += 1;
    }
    return taken;
  }

  async takeSnapshot(projectId: string): Promise<void> {
    const now = this.deps.now();
    // Only the state counts here; any window will do.
    const metrics = (await this.deps.figures.figuresOf(projectId)).metrics({
      start: now,
      end: now,
    });
    await this.deps.snapshots.save(projectId, dayOf(now), {
      takenAt: now,
      subscriptionsByStatus: metrics.subscriptionsByStatus,
      activeCustomers: metrics.activeCustomers,
      mrr: metrics.mrr,
    });
  }

  /** Every day from `first` to `last` (valid days, `first` not after `last`), oldest first. */
  async dailyMetrics(projectId: string, first: string, last: string): Promise<DailyMetrics[]> {
    const [snapshots, figures] = await Promise.all([
      this.deps.snapshots.listDays(projectId, first, last),
      this.deps.figures.figuresOf(projectId),
    ]);
    const now = this.deps.now();
    return daysFrom(first, last).map((day) => {
      const window = dayWindow(day, now);
      const counts = window ? figures.metrics(window) : undefined;
      return {
        day,
        snapshot: snapshots.get(day),
        newSubscriptions: counts?.newSubscriptions ?? 0,
        churnedSubscriptions: counts?.churnedSubscriptions ?? 0,
      };
    });
  }
}
