/**
 * Projects (catalog, grace period, secrets) kept in process memory: read on
 * every check and every webhook, changed rarely. A change is broadcast on
 * the invalidation bus; the TTL bounds staleness if a broadcast is lost.
 */
import type { InvalidationBus } from '../cache/invalidation-bus.js';
import { type Catalog, catalogFromEntries } from '../domain/catalog.js';
import type { ProjectDoc } from '../store/documents.js';
import type { ProjectStore } from '../store/project-store.js';

export class ProjectCache {
  private readonly entries = new Map<string, { project: ProjectDoc | null; expiresAt: number }>();
  /** Parsed catalogs by the project document they came from: one per cached version. */
  private readonly catalogs = new WeakMap<ProjectDoc, Catalog>();

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

  /**
   * The project's catalog as the engine reads it, parsed once per cached
   * project version: every customer's engine inputs then share one catalog
   * instead of holding a copy each (docs/decisions.md, "Caching entitlements", Memory).
   */
  catalogOf(project: ProjectDoc | null): Catalog {
    if (!project) return emptyCatalog;
    const parsed = this.catalogs.get(project);
    if (parsed) return parsed;
    const catalog = catalogFromEntries(project.catalog);
    this.catalogs.set(project, catalog);
    return catalog;
  }
}

const emptyCatalog: Catalog = new Map();
