/**
 * The Node handler for every Connect, gRPC and gRPC-Web route. It does what
 * connect-node's connectNodeAdapter does (router, path table, fallback),
 * plus one thing it cannot: each RPC handler is wrapped by
 * guardMalformedBodies, so undecodable input is INVALID_ARGUMENT, never
 * INTERNAL.
 */
import {
  Code,
  ConnectError,
  type ConnectRouter,
  createConnectRouter,
  type Interceptor,
} from '@connectrpc/connect';
import type { UniversalHandler } from '@connectrpc/connect/protocol';
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from '@connectrpc/connect-node';
import type { Logger } from '../logger.js';
import type { NodeHandler } from '../node-http.js';
import { guardMalformedBodies, rpcInterceptors } from './malformed-body.js';

export interface ConnectHandlerOptions {
  readonly routes: (router: ConnectRouter) => void;
  readonly interceptors: readonly Interceptor[];
  readonly readMaxBytes: number;
  readonly shutdownSignal: AbortSignal;
  /** Everything that is not an RPC: /healthz, /metrics, webhooks, ... */
  readonly fallback: NodeHandler;
  readonly logger: Logger;
}

export function createConnectHandler(options: ConnectHandlerOptions): NodeHandler {
  const router = createConnectRouter({
    interceptors: rpcInterceptors(options.interceptors),
    readMaxBytes: options.readMaxBytes,
    shutdownSignal: options.shutdownSignal,
    acceptCompression: [compressionGzip, compressionBrotli],
  });
  options.routes(router);
  const paths = new Map<string, UniversalHandler>();
  for (const handler of router.handlers) {
    paths.set(handler.requestPath, guardMalformedBodies(handler, options.readMaxBytes));
  }
  return (req, res) => {
    const handler = paths.get(req.url?.split('?', 2)[0] ?? '');
    if (!handler) {
      options.fallback(req, res);
      return;
    }
    handler(universalRequestFromNodeRequest(req, res, undefined, undefined))
      .then((response) => universalResponseToNodeResponse(response, res))
      .catch((reason: unknown) => {
        // A client that went away mid-call is not a failure of ours.
        if (ConnectError.from(reason).code === Code.Aborted) return;
        options.logger.error('rpc handler failed', {
          procedure: handler.requestPath,
          error: reason,
        });
      });
  };
}
