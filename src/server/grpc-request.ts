/**
 * What a native unary and a streaming request share (grpc-call.ts adds
 * `stream`, `message` and `method`). A class, so the lazy `signal` getter
 * is on the prototype: as a getter in an object literal it made every
 * request a dictionary-mode object (~450 bytes, slow to read), held for as
 * long as a stream is open (docs/benchmarks.md, "Memory"). Properties are
 * added to it, never spread from it: a spread would miss `signal`.
 */
import type { UnaryRequest } from '@connectrpc/connect';

export class RequestCommon {
  readonly requestMethod = 'POST';

  constructor(
    readonly service: UnaryRequest['service'],
    readonly url: string,
    readonly header: UnaryRequest['header'],
    readonly contextValues: UnaryRequest['contextValues'],
    /** Creates the call's signal on first use. */
    private readonly signalOf: () => AbortSignal,
  ) {}

  get signal(): AbortSignal {
    return this.signalOf();
  }
}
