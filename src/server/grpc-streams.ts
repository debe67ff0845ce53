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
 * Per call it allocates no AbortController unless someone reads the
 * signal (the profile put ~25 µs per call on connect's signals): a
 * deadline, the client's reset and shutdown abort it when it exists.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { create, fromBinary, type Message, toBinary } from '@bufbuild/protobuf';
import {
  Code,
  ConnectError,
  createContextValues,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
  type UnaryRequest,
} from '@connectrpc/connect';
import { createAsyncIterable } from '@connectrpc/connect/protocol';
import { parseTimeout, setTrailerStatus } from '@connectrpc/connect/protocol-grpc';
import type { Logger } from '../logger.js';
import { encodeEnvelope, envelopeHeaderBytes } from './envelopes.js';
import {
  decodeRequest,
  markRequestProblem,
  rpcInterceptors,
  tooLargeProblem,
} from './malformed-body.js';
import { MapHeaders } from './map-headers.js';
import type { RecordedRoutes } from './recorded-routes.js';
import { attachCallFrame, createRpcMethods, type RpcMethod } from './rpc-handlers.js';

/** Serves an HTTP/2 stream and returns true, or returns false to leave it to the next handler. */
export type Http2StreamHandler = (
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
) => boolean;

export interface GrpcStreamsOptions {
  readonly routes: RecordedRoutes;
  /** The service's interceptors (the malformed-body check is added, as for connect). */
  readonly interceptors: readonly Interceptor[];
  readonly readMaxBytes: number;
  /** Aborted at shutdown: every call's signal follows it. */
  readonly shutdownSignal: AbortSignal;
  readonly logger: Logger;
}

export function createGrpcStreams(options: GrpcStreamsOptions): Http2StreamHandler {
  const methods = createRpcMethods(options.routes.specs, rpcInterceptors(options.interceptors));
  return (stream, headers) => {
    const contentType = nativeContentType(headers);
    if (contentType === undefined) return false;
    const path = headers[':path'] ?? '';
    const method = methods.get(path);
    if (method !== undefined) {
      new GrpcCall(stream, headers, contentType, method, options).start();
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
  const type = (headers['content-type'] ?? '').split(';', 1)[0]?.trim().toLowerCase();
  return type === 'application/grpc' || type === 'application/grpc+proto' ? type : undefined;
}

const shutdownReason = () => new ConnectError('the server is shutting down', Code.Unavailable);

class GrpcCall {
  private readonly chunks: Buffer[] = [];
  private received = 0;
  /** Past readMaxBytes: the call was answered, what else arrives is dropped. */
  private tooLarge = false;
  /** Response headers are on the wire. */
  private responded = false;
  /** The call has its outcome (answered, failed, timed out or cancelled). */
  private done = false;
  private controller: AbortController | undefined;
  private abortReason: unknown;
  private timer: NodeJS.Timeout | undefined;
  private deadline: number | undefined;
  private trailers: OutgoingHttpHeaders = {};
  private readonly responseHeader = new MapHeaders();
  private readonly responseTrailer = new MapHeaders();
  private outputs: AsyncIterator<Message> | undefined;

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly headers: IncomingHttpHeaders,
    private readonly contentType: string,
    private readonly method: RpcMethod,
    private readonly options: GrpcStreamsOptions,
  ) {}

  start(): void {
    const { stream } = this;
    // A reset stream emits 'error'; its 'close' is what this call acts on.
    stream.on('error', ignore);
    stream.once('close', () => this.onClose());
    stream.on('wantTrailers', () => this.sendTrailers());
    const value = this.headers['grpc-timeout'];
    const timeout = parseTimeout(typeof value === 'string' ? value : null, Number.MAX_SAFE_INTEGER);
    if (timeout.error) {
      this.fail(timeout.error);
      drain(stream);
      return;
    }
    if (timeout.timeoutMs !== undefined) {
      this.deadline = Date.now() + timeout.timeoutMs;
      this.timer = setTimeout(() => this.onDeadline(), timeout.timeoutMs);
    }
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.once('end', () => {
      if (this.done || this.tooLarge) return;
      const [only] = this.chunks;
      this.run(this.chunks.length === 1 && only ? only : Buffer.concat(this.chunks, this.received));
    });
  }

  private onData(chunk: Buffer): void {
    if (this.tooLarge) return;
    this.received += chunk.length;
    if (this.received <= this.options.readMaxBytes + envelopeHeaderBytes) {
      this.chunks.push(chunk);
      return;
    }
    // Over the limit: stop keeping bytes (the rest is read and dropped) and answer now.
    this.tooLarge = true;
    this.chunks.length = 0;
    this.run(undefined);
  }

  /** `body` undefined: the request was too large. */
  private run(body: Buffer | undefined): void {
    const contextValues = createContextValues();
    const input = this.method.spec.method.input;
    const decoded =
      body === undefined
        ? { ok: false as const, problem: tooLargeProblem(undefined, this.options.readMaxBytes) }
        : decodeRequest(body, 'enveloped', input, (data) => fromBinary(input, data));
    // A refused request goes on empty, marked: the malformed-body interceptor refuses it after auth.
    if (!decoded.ok) markRequestProblem(contextValues, decoded.problem);
    const message = decoded.ok ? decoded.message : create(input);
    attachCallFrame(contextValues, {
      protocolName: 'grpc',
      timeoutMs: () => (this.deadline === undefined ? undefined : this.deadline - Date.now()),
      responseHeader: this.responseHeader,
      responseTrailer: this.responseTrailer,
    });
    const call = this;
    // Properties are added to this object, never spread from it: a spread
    // would read `signal` and create the AbortController it saves.
    const common = {
      service: this.method.spec.method.parent,
      requestMethod: 'POST',
      url: `http://${this.headers[':authority'] ?? 'localhost'}${this.headers[':path'] ?? ''}`,
      get signal() {
        return call.signal();
      },
      header: MapHeaders.fromHttp2(this.headers),
      contextValues,
    };
    if (this.method.kind === 'unary') {
      const req: UnaryRequest = Object.assign(common, {
        stream: false as const,
        message,
        method: this.method.spec.method,
      });
      this.method.call(req).then(
        (response) => this.answer(response.message, response.header, response.trailer),
        (err: unknown) => this.fail(err),
      );
    } else {
      const req: StreamRequest = Object.assign(common, {
        stream: true as const,
        message: createAsyncIterable([message]),
        method: this.method.spec.method,
      });
      this.method.call(req).then(
        (response) => this.pump(response),
        (err: unknown) => this.fail(err),
      );
    }
  }

  /** The call's signal, created on first use, aborted if the call already ended. */
  private signal(): AbortSignal {
    if (this.controller) return this.controller.signal;
    const controller = new AbortController();
    this.controller = controller;
    const shutdown = this.options.shutdownSignal;
    if (this.done) controller.abort(this.abortReason);
    else if (shutdown.aborted) controller.abort(shutdownReason());
    else shutdown.addEventListener('abort', this.onShutdown, { once: true });
    return controller.signal;
  }

  private readonly onShutdown = () => this.controller?.abort(shutdownReason());

  private answer(message: Message, header: Headers, trailer: Headers): void {
    if (this.done) return;
    const body = encodeEnvelope(toBinary(this.method.spec.method.output, message));
    if (!this.respondHeaders(header)) return;
    this.finish(trailer, body);
  }

  private async pump(response: StreamResponse): Promise<void> {
    const output = this.method.spec.method.output;
    const outputs = response.message[Symbol.asyncIterator]();
    this.outputs = outputs;
    try {
      for (;;) {
        const next = await outputs.next();
        if (this.done) return;
        if (next.done) break;
        if (!this.responded && !this.respondHeaders(response.header)) return;
        const bytes = encodeEnvelope(toBinary(output, next.value));
        if (!this.stream.write(bytes)) await drained(this.stream);
      }
    } catch (err) {
      this.fail(err);
      return;
    }
    if (!this.responded && !this.respondHeaders(response.header)) return;
    this.finish(response.trailer, undefined);
  }

  /** Sends the response headers; false when the stream is already gone. */
  private respondHeaders(header: Headers): boolean {
    if (this.stream.destroyed || this.stream.closed) return false;
    const out: OutgoingHttpHeaders = { ':status': 200, 'content-type': this.contentType };
    copyHeaders(header, out);
    this.stream.respond(out, { waitForTrailers: true });
    this.responded = true;
    return true;
  }

  private finish(trailer: Headers, body: Buffer | undefined): void {
    this.settle(undefined);
    const trailers: OutgoingHttpHeaders = {};
    copyHeaders(trailer, trailers);
    trailers['grpc-status'] = '0';
    this.trailers = trailers;
    this.stream.end(body);
  }

  private fail(reason: unknown): void {
    if (this.done) return;
    const error = this.asConnectError(reason);
    this.settle(error);
    if (this.stream.destroyed || this.stream.closed) return;
    if (!this.responded) {
      respondTrailersOnly(this.stream, this.contentType, error, this.responseHeader);
      return;
    }
    this.trailers = statusTrailers(error, this.responseTrailer);
    this.stream.end();
  }

  private sendTrailers(): void {
    if (this.stream.destroyed || this.stream.closed) return;
    this.stream.sendTrailers(this.trailers);
  }

  private onDeadline(): void {
    this.timer = undefined;
    this.fail(new ConnectError('the operation timed out', Code.DeadlineExceeded));
    this.closeOutputs();
  }

  private onClose(): void {
    if (this.done) return;
    // The client reset the stream (or the session died) before the answer.
    this.settle(new ConnectError('the client cancelled the call', Code.Canceled));
    this.closeOutputs();
  }

  /** The outcome is known: the timer stops, and the signal (if any) ends the implementation's work. */
  private settle(reason: ConnectError | undefined): void {
    this.done = true;
    this.abortReason = reason;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.controller) {
      this.options.shutdownSignal.removeEventListener('abort', this.onShutdown);
      this.controller.abort(reason);
    }
  }

  private closeOutputs(): void {
    this.outputs?.return?.().catch(ignore);
  }

  private asConnectError(reason: unknown): ConnectError {
    if (reason instanceof ConnectError) return reason;
    this.options.logger.error('rpc handler failed', {
      procedure: this.headers[':path'],
      error: reason,
    });
    return new ConnectError('internal error', Code.Internal, undefined, undefined, reason);
  }
}

/** A response of headers alone carrying the status (the spec's Trailers-Only). */
function respondTrailersOnly(
  stream: ServerHttp2Stream,
  contentType: string,
  error: ConnectError,
  header: Headers | undefined,
): void {
  if (stream.destroyed || stream.closed) return;
  const out: OutgoingHttpHeaders = { ':status': 200, 'content-type': contentType };
  if (header) copyHeaders(header, out);
  Object.assign(out, statusTrailers(error, undefined));
  stream.respond(out, { endStream: true });
}

/** grpc-status, grpc-message and details as connect writes them, the message encoded per the spec. */
function statusTrailers(error: ConnectError, trailer: Headers | undefined): OutgoingHttpHeaders {
  const target = new MapHeaders();
  trailer?.forEach((value, key) => {
    target.set(key, value);
  });
  setTrailerStatus(target, error);
  target.set('grpc-message', percentEncodeGrpcMessage(error.rawMessage));
  const out: OutgoingHttpHeaders = {};
  target.copyInto(out);
  return out;
}

/**
 * The gRPC HTTP/2 spec's Percent-Encoded: UTF-8 bytes, every byte outside
 * printable ASCII (0x20-0x7E) and "%" itself as %XX. (connect uses
 * encodeURIComponent, which encodes more, spaces included; decoders accept both.)
 */
export function percentEncodeGrpcMessage(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length && plain; i += 1) {
    const c = message.charCodeAt(i);
    plain = c >= 0x20 && c <= 0x7e && c !== 0x25;
  }
  if (plain) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function copyHeaders(from: Headers, to: OutgoingHttpHeaders): void {
  if (from instanceof MapHeaders) from.copyInto(to);
  else
    from.forEach((value, key) => {
      to[key] = value;
    });
}

/** Reads and drops whatever the client still sends. */
function drain(stream: ServerHttp2Stream): void {
  stream.on('error', ignore);
  stream.resume();
}

function drained(stream: ServerHttp2Stream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

function ignore(): void {}
