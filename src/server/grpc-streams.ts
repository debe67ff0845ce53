/**
 * Native gRPC: unary and server-streaming calls served straight off Node's
 * HTTP/2 streams, without connect-node's request/response adapters and
 * async-iterable pipelines (where its time went, docs/benchmarks.md). It
 * reads the enveloped request, decodes it with the generated schema, runs
 * the method through the same interceptors and implementation as every
 * other protocol (rpc-handlers.ts), and writes headers, the enveloped
 * answer and the grpc-status trailers (gRPC over HTTP/2 spec).
 *
 * What it does not serve it hands back (returns false), and the connect
 * handler serves it on the same stream: other content types (Connect,
 * gRPC-Web, gRPC+JSON, plain HTTP), compressed calls (connect does gzip),
 * and client or bidi streaming (server reflection).
 *
 * This file routes a stream to its method; grpc-call.ts serves the call,
 * grpc-responses.ts writes what goes on the wire.
 */
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { AnswerEnvelopes } from './answer-envelopes.js';
import { CallDeadlines } from './call-deadlines.js';
import { GrpcCall, type GrpcCallOptions, type GrpcCallShared } from './grpc-call.js';
import { drain, respondTrailersOnly } from './grpc-responses.js';
import { rpcInterceptors } from './malformed-body.js';
import type { RecordedRoutes } from './recorded-routes.js';
import { createRpcMethods } from './rpc-handlers.js';

/** Serves an HTTP/2 stream and returns true, or returns false to leave it to the next handler. */
export type Http2StreamHandler = (
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
) => boolean;

export interface GrpcStreamsOptions extends GrpcCallOptions {
  readonly routes: RecordedRoutes;
  /** The service's interceptors (the malformed-body check is added, as for connect). */
  readonly interceptors: readonly Interceptor[];
}

export function createGrpcStreams(options: GrpcStreamsOptions): Http2StreamHandler {
  const methods = createRpcMethods(options.routes.specs, rpcInterceptors(options.interceptors));
  const shared: GrpcCallShared = {
    envelopes: new AnswerEnvelopes(),
    deadlines: new CallDeadlines(),
  };
  return (stream, headers) => {
    const contentType = nativeContentType(headers);
    if (contentType === undefined) return false;
    const path = headers[':path'] ?? '';
    const method = methods.get(path);
    if (method !== undefined) {
      new GrpcCall(stream, headers, contentType, method, options, shared).start();
      return true;
    }
    // Registered, but not unary or server streaming (or with route options): connect's.
    if (options.routes.paths.has(path)) return false;
    const unknown = new ConnectError(`unknown method ${path}`, Code.Unimplemented);
    respondTrailersOnly(stream, contentType, unknown, undefined);
    drain(stream);
    return true;
  };
}

/** The response content type when the call is one for this path, else undefined. */
function nativeContentType(headers: IncomingHttpHeaders): string | undefined {
  if (headers[':method'] !== 'POST') return undefined;
  const encoding = headers['grpc-encoding'];
  if (encoding !== undefined && encoding !== 'identity') return undefined;
  const declared = headers['content-type'];
  // What gRPC clients send, taken as is; anything else is parsed.
  if (declared === 'application/grpc') return declared;
  const type = (declared ?? '').split(';', 1)[0]?.trim().toLowerCase();
  return type === 'application/grpc' || type === 'application/grpc+proto' ? type : undefined;
}
