/**
 * Projects (catalog, grace period, secrets) kept in process memory: read on
 * every check and every webhook, changed rarely. A change is broadcast on
 * the invalidation bus; the TTL bounds staleness if a broadcast is lost.
 */
import type { InvalidationBus } from '../cache/invalidation-bus.js';
import { type Catalog, catalogFromEntries } from '../domain/catalog.js';
import type { ProjectDoc } from '../store/documents.js';
import type { ProjectStore } from '../store/project-store.js';
import { ExpiringMemo } from './expiring-memo.js';

export class ProjectCache {
  private readonly memo: ExpiringMemo<ProjectDoc | null>;
  /** Parsed catalogs by the project document they came from: one per cached version. */
  private readonly catalogs = new WeakMap<ProjectDoc, Catalog>();

  constructor(
    private readonly store: ProjectStore,
    bus: InvalidationBus,
    ttlMs: number,
    nowMs: () => number = Date.now,
  ) {
    // Unknown ids are not remembered: a project created a moment ago must be found.
    this.memo = new ExpiringMemo((projectId) => this.store.get(projectId), ttlMs, {
      keep: (project) => project !== null,
      nowMs,
    });
    bus.onMessage((message) => {
      if (message.kind === 'project') this.memo.invalidate(message.projectId);
    });
  }

  get(projectId: string): Promise<ProjectDoc | null> {
    return this.memo.get(projectId);
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
