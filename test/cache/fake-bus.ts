/** The slice of the invalidation bus the in-memory caches use, driven by hand. */
import type { InvalidationHandler, InvalidationMessage } from '../../src/cache/invalidation-bus.js';

export class FakeBus {
  private readonly handlers: InvalidationHandler[] = [];
  onMessage(handler: InvalidationHandler): () => void {
    this.handlers.push(handler);
    return () => {};
  }
  send(message: InvalidationMessage): void {
    for (const handler of this.handlers) handler(message);
  }
}
