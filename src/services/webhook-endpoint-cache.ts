/**
 * Each project's live webhook endpoints, kept in process memory: asked at
 * every change of every customer (is anyone listening?), changed rarely.
 * A change is broadcast on the invalidation bus (`webhook_endpoints`); the
 * TTL bounds staleness if a broadcast is lost.
 */
import type { InvalidationBus } from '../cache/invalidation-bus.js';
import type { WebhookEndpointRecord } from '../domain/records.js';
import type { WebhookEndpointStore } from '../store/webhook-endpoint-store.js';
import { ExpiringMemo } from './expiring-memo.js';

export class WebhookEndpointCache {
  private readonly memo: ExpiringMemo<readonly WebhookEndpointRecord[]>;

  constructor(
    private readonly store: Pick<WebhookEndpointStore, 'list'>,
    bus: Pick<InvalidationBus, 'onMessage'>,
    ttlMs: number,
    nowMs: () => number = Date.now,
  ) {
    this.memo = new ExpiringMemo<readonly WebhookEndpointRecord[]>(
      (projectId) => this.store.list(projectId, false),
      ttlMs,
      { nowMs },
    );
    bus.onMessage((message) => {
      if (message.kind === 'webhook_endpoints') this.memo.invalidate(message.projectId);
    });
  }

  liveOf(projectId: string): Promise<readonly WebhookEndpointRecord[]> {
    return this.memo.get(projectId);
  }
}
