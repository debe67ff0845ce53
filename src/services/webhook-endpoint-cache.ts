/**
 * Each project's live webhook endpoints, kept in process memory: asked at
 * every change of every customer (is anyone listening?), changed rarely.
 * A change is broadcast on the invalidation bus (`webhook_endpoints`); the
 * TTL bounds staleness if a broadcast is lost.
 */
import type { InvalidationBus } from '../cache/invalidation-bus.js';
import type { WebhookEndpointRecord } from '../domain/records.js';
import type { WebhookEndpointStore } from '../store/webhook-endpoint-store.js';

export class WebhookEndpointCache {
  private readonly entries = new Map<
    string,
    { endpoints: readonly WebhookEndpointRecord[]; expiresAt: number }
  >();
  /** Reads in flight: callers that find an entry expired together share one read. */
  private readonly loading = new Map<string, Promise<readonly WebhookEndpointRecord[]>>();

  constructor(
    private readonly store: Pick<WebhookEndpointStore, 'list'>,
    bus: Pick<InvalidationBus, 'onMessage'>,
    private readonly ttlMs: number,
    private readonly nowMs: () => number = Date.now,
  ) {
    bus.onMessage((message) => {
      if (message.kind !== 'webhook_endpoints') return;
      this.entries.delete(message.projectId);
      // A read begun before the change may hold the old list: it is not kept.
      this.loading.delete(message.projectId);
    });
  }

  async liveOf(projectId: string): Promise<readonly WebhookEndpointRecord[]> {
    const cached = this.entries.get(projectId);
    if (cached && cached.expiresAt > this.nowMs()) return cached.endpoints;
    const pending = this.loading.get(projectId);
    if (pending) return pending;
    const load = this.store.list(projectId, false).then((endpoints) => {
      if (this.loading.get(projectId) === load) {
        this.entries.set(projectId, { endpoints, expiresAt: this.nowMs() + this.ttlMs });
      }
      return endpoints;
    });
    this.loading.set(projectId, load);
    try {
      return await load;
    } finally {
      if (this.loading.get(projectId) === load) this.loading.delete(projectId);
    }
  }
}
