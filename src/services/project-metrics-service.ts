/**
 * A project's business figures (domain/mrr.ts rules), answered from the
 * figures this replica keeps current as subscriptions change
 * (project-figures-cache.ts): a call costs O(statuses + currencies +
 * log subscriptions), not a read of every subscription. They are kept in
 * the process, not computed by an aggregation pipeline: FerretDB's `$group`
 * knows only `$sum` and `$count`, and the newest version per subscription
 * has to be picked first anyway.
 */
import type { CurrencyAmount, MetricsWindow, ProjectMetrics } from '../domain/mrr.js';
import type { ProjectFiguresCache } from './project-figures-cache.js';

/** The figures the Prometheus business gauges show for one project. */
export interface ProjectBusinessFigures {
  readonly projectId: string;
  readonly activeSubscriptions: number;
  readonly mrr: readonly CurrencyAmount[];
}

export interface ProjectMetricsDeps {
  readonly figures: Pick<ProjectFiguresCache, 'figuresOf'>;
  /** Every project (a small collection), for the cross-project gauges. */
  readonly projects: { listIds(): Promise<string[]> };
}

export class ProjectMetricsService {
  constructor(private readonly deps: ProjectMetricsDeps) {}

  async projectMetrics(projectId: string, window: MetricsWindow): Promise<ProjectMetrics> {
    return (await this.deps.figures.figuresOf(projectId)).metrics(window);
  }

  /** Active subscriptions and MRR of every project that has subscriptions, one project at a time. */
  async businessFigures(): Promise<ProjectBusinessFigures[]> {
    const figures: ProjectBusinessFigures[] = [];
    // The window does not matter for these figures; any will do.
    const window: MetricsWindow = { start: new Date(0), end: new Date(0) };
    for (const projectId of await this.deps.projects.listIds()) {
      const project = await this.deps.figures.figuresOf(projectId);
      if (project.size === 0) continue;
      const metrics = project.metrics(window);
      figures.push({
        projectId,
        activeSubscriptions: metrics.activeSubscriptions,
        mrr: metrics.mrr,
      });
    }
    return figures;
  }
}
