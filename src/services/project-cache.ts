/**
 * Projects (catalog, grace period, secrets) kept in process memory: read on
 * every check and every webhook, changed rarely. A change is broadcast on
 * the invalidation bus; the TTL bounds staleness if a broadcast is lost.
 */
import type { InvalidationBus } from '../cache/invalidation-bus.js';
import type { ProjectDoc } from '../store/documents.js';
import type { ProjectStore } from '../store/project-store.js';

export class ProjectCache {
  private readonly entries = new Map<string, { project: ProjectDoc | null; expiresAt: number }>();

  constructor(
    private readonly store: ProjectStore,
    bus: InvalidationBus,
    private readonly ttlMs: number,
    private readonly nowMs: () => number = Date.now,
  ) {
    bus.onMessage((message) => {
      if (message.kind === 'project') this.entries.delete(message.projectId);
    });
  }

  async get(projectId: string): Promise<ProjectDoc | null> {
    const cached = this.entries.get(projectId);
    if (cached && cached.expiresAt > this.nowMs()) return cached.project;
    const project = await this.store.get(projectId);
    // Unknown ids are not remembered: a project created a moment ago must be found.
    if (project) this.entries.set(projectId, { project, expiresAt: this.nowMs() + this.ttlMs });
    return project;
  }
}
