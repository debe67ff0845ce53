/** The slice of the invalidation bus the in-memory caches and hubs use, driven by hand. */
import type { InvalidationHandler, InvalidationMessage } from '../../src/cache/invalidation-bus.js';

export class FakeBus {
  private readonly handlers: InvalidationHandler[] = [];
  private readonly reconnectHandlers: (() => void)[] = [];

  onMessage(handler: InvalidationHandler): () => void {
    this.handlers.push(handler);
    return () => {};
  }

  onReconnect(handler: () => void): void {
    this.reconnectHandlers.push(handler);
  }

  send(message: InvalidationMessage): void {
    for (const handler of this.handlers) handler(message);
  }

  reconnect(): void {
    for (const handler of this.reconnectHandlers) handler();
  }
}
