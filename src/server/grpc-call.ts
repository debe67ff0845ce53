/**
 * One native gRPC call on its HTTP/2 stream (grpc-streams.ts routes it
 * here): collects the enveloped request up to the size limit, decodes it,
 * runs the method through the shared interceptors and implementation
 * (rpc-handlers.ts), and answers headers, the enveloped message(s) and the
 * grpc-status trailers. A deadline (grpc-timeout, watched by call-deadlines.ts),
 * the client's reset and shutdown end it.
 *
 * No AbortController is allocated unless someone reads the signal (the
 * profile put ~25 µs per call on connect's signals).
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { create, fromBinary, type Message, toBinary } from '@bufbuild/protobuf';
import {
  Code,
  ConnectError,
  createContextValues,
  type StreamRequest,
  type StreamResponse,
  type UnaryRequest,
} from '@connectrpc/connect';
import { createAsyncIterable } from '@connectrpc/connect/protocol';
import { parseTimeout } from '@connectrpc/connect/protocol-grpc';
import type { Logger } from '../logger.js';
import type { AnswerEnvelopes } from './answer-envelopes.js';
import type { CallDeadlines, DeadlineBound } from './call-deadlines.js';
import { encodeEnvelope, envelopeHeaderBytes } from './envelopes.js';
import { RequestCommon } from './grpc-request.js';
import {
  copyHeaders,
  drain,
  drained,
  ignore,
  respondTrailersOnly,
  statusTrailers,
} from './grpc-responses.js';
import { decodeRequest, markRequestProblem, tooLargeProblem } from './malformed-body.js';
import { MapHeaders } from './map-headers.js';
import { attachCallFrame, type CallFrame, type RpcMethod } from './rpc-handlers.js';

/** What a call needs of the server's options. */
export interface GrpcCallOptions {
  readonly readMaxBytes: number;
  /** Aborted at shutdown: every call's signal follows it. */
  readonly shutdownSignal: AbortSignal;
  readonly logger: Logger;
}

/** What every call of one server shares. */
export interface GrpcCallShared {
  readonly envelopes: AnswerEnvelopes;
  readonly deadlines: CallDeadlines;
}

const shutdownReason = () => new ConnectError('the server is shutting down', Code.Unavailable);

/**
 * The call is its own CallFrame and deadline entry: no closures are made per
 * call for them (tsx's keepNames wraps every named one, 1.3% of a warm check).
 */
export class GrpcCall implements DeadlineBound, CallFrame {
  readonly protocolName = 'grpc';
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
  private deadline: number | undefined;
  private trailers: OutgoingHttpHeaders = {};
  readonly responseHeader = MapHeaders.empty();
  readonly responseTrailer = MapHeaders.empty();
  /** Aborts the signal at shutdown; made with the signal, which few calls ask for. */
  private onShutdown: (() => void) | undefined;
  private outputs: AsyncIterator<Message> | undefined;

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly headers: IncomingHttpHeaders,
    private readonly contentType: string,
    private readonly method: RpcMethod,
    private readonly options: GrpcCallOptions,
    private readonly shared: GrpcCallShared,
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
      this.shared.deadlines.add(this, this.deadline);
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
    attachCallFrame(contextValues, this);
    // Properties are added to this object, never spread from it (grpc-request.ts).
    const common = new RequestCommon(
      this.method.spec.method.parent,
      `http://${this.headers[':authority'] ?? 'localhost'}${this.headers[':path'] ?? ''}`,
      MapHeaders.fromHttp2(this.headers),
      contextValues,
      () => this.signal(),
    );
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
    else {
      this.onShutdown = () => controller.abort(shutdownReason());
      shutdown.addEventListener('abort', this.onShutdown, { once: true });
    }
    return controller.signal;
  }

  /** Milliseconds left before the deadline; undefined without one (CallFrame). */
  timeoutMs(): number | undefined {
    return this.deadline === undefined ? undefined : this.deadline - Date.now();
  }

  private answer(message: Message, header: Headers, trailer: Headers): void {
    if (this.done) return;
    const body = this.shared.envelopes.encode(this.method.spec.method.output, message);
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

  onDeadline(): void {
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
    if (this.deadline !== undefined) this.shared.deadlines.remove(this);
    if (this.controller) {
      if (this.onShutdown)
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
