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

  constructor(
    private readonly store: Pick<WebhookEndpointStore, 'list'>,
    bus: Pick<InvalidationBus, 'onMessage'>,
    private readonly ttlMs: number,
    private readonly nowMs: () => number = Date.now,
  ) {
    bus.onMessage((message) => {
      if (message.kind === 'webhook_endpoints') this.entries.delete(message.projectId);
    });
  }

  async liveOf(projectId: string): Promise<readonly WebhookEndpointRecord[]> {
    const cached = this.entries.get(projectId);
    if (cached && cached.expiresAt > this.nowMs()) return cached.endpoints;
    const endpoints = await this.store.list(projectId, false);
    this.entries.set(projectId, { endpoints, expiresAt: this.nowMs() + this.ttlMs });
    return endpoints;
  }
}
