/**
 * Runs one recorded method the way connect's router does (same
 * interceptors, in the same order, around the same implementation, with
 * the same request and response shapes), for protocol adapters of our own
 * (the native gRPC path). The interceptor chain is composed once per method
 * rather than per call; what belongs to one call (its response headers and
 * trailers, its deadline) travels in the call's context values, which every
 * interceptor passes on.
 */
import { create, type DescMessage } from '@bufbuild/protobuf';
import {
  Code,
  ConnectError,
  type ContextValues,
  createContextKey,
  type HandlerContext,
  type Interceptor,
  type MethodImplSpec,
  type StreamRequest,
  type StreamResponse,
  type UnaryRequest,
  type UnaryResponse,
} from '@connectrpc/connect';

/** What one call's handler context holds beyond its request. */
export interface CallFrame {
  readonly protocolName: string;
  /** Milliseconds left before the deadline; undefined without one. */
  timeoutMs(): number | undefined;
  readonly responseHeader: Headers;
  readonly responseTrailer: Headers;
}

const callFrameKey = createContextKey<CallFrame | undefined>(undefined, {
  description: 'rpc call frame',
});

/** Puts the call's frame in its context values, before the request enters the chain. */
export function attachCallFrame(contextValues: ContextValues, frame: CallFrame): void {
  contextValues.set(callFrameKey, frame);
}

export type RpcMethod =
  | {
      readonly kind: 'unary';
      readonly spec: MethodImplSpec & { readonly kind: 'unary' };
      readonly call: (req: UnaryRequest) => Promise<UnaryResponse>;
    }
  | {
      readonly kind: 'server_streaming';
      readonly spec: MethodImplSpec & { readonly kind: 'server_streaming' };
      readonly call: (req: StreamRequest) => Promise<StreamResponse>;
    };

type AnyFn = Parameters<Interceptor>[0];

/** The unary and server-streaming methods among `specs`, each wrapped in `interceptors`. */
export function createRpcMethods(
  specs: ReadonlyMap<string, MethodImplSpec>,
  interceptors: readonly Interceptor[],
): Map<string, RpcMethod> {
  const methods = new Map<string, RpcMethod>();
  for (const [path, spec] of specs) {
    if (spec.kind === 'unary') {
      const call = applyInterceptors(unaryFn(spec), interceptors);
      methods.set(path, { kind: 'unary', spec, call: (req) => call(req).then(expectUnary) });
    } else if (spec.kind === 'server_streaming') {
      const call = applyInterceptors(serverStreamingFn(spec), interceptors);
      methods.set(path, {
        kind: 'server_streaming',
        spec,
        call: (req) => call(req).then(expectStream),
      });
    }
  }
  return methods;
}

/** The first interceptor is the outermost, as in connect. */
function applyInterceptors(inner: AnyFn, interceptors: readonly Interceptor[]): AnyFn {
  let next = inner;
  for (let i = interceptors.length - 1; i >= 0; i -= 1) {
    const interceptor = interceptors[i];
    if (interceptor) next = interceptor(next);
  }
  return next;
}

function unaryFn(spec: MethodImplSpec & { readonly kind: 'unary' }): AnyFn {
  return async (req) => {
    if (req.stream) throw wiringError(spec);
    const frame = frameOf(req);
    const output = await spec.impl(req.message, handlerContext(req, frame));
    return {
      stream: false,
      message: create(spec.method.output, output),
      method: spec.method,
      service: req.service,
      header: frame.responseHeader,
      trailer: frame.responseTrailer,
    };
  };
}

function serverStreamingFn(spec: MethodImplSpec & { readonly kind: 'server_streaming' }): AnyFn {
  return async (req) => {
    if (!req.stream) throw wiringError(spec);
    const frame = frameOf(req);
    const input = await single(req.message);
    const output = spec.impl(input, handlerContext(req, frame));
    return {
      stream: true,
      message: normalized(spec.method.output, output),
      method: spec.method,
      service: req.service,
      header: frame.responseHeader,
      trailer: frame.responseTrailer,
    };
  };
}

function frameOf(req: UnaryRequest | StreamRequest): CallFrame {
  const frame = req.contextValues.get(callFrameKey);
  if (!frame) throw new ConnectError('call without a frame', Code.Internal);
  return frame;
}

/** What connect's handlers hand an implementation; the signal is the request's (created on use). */
function handlerContext(req: UnaryRequest | StreamRequest, frame: CallFrame): HandlerContext {
  return new CallContext(req, frame);
}

/**
 * A class, not an object literal with a `signal` getter: V8 makes such
 * literals (and objects given a fresh getter by defineProperty)
 * dictionary-mode objects, about 800 bytes each and slow to read, and a
 * stream keeps its context for as long as it is open (docs/benchmarks.md,
 * "Memory"). Here the getter is on the prototype; nothing spreads a context.
 */
class CallContext implements HandlerContext {
  readonly method: HandlerContext['method'];
  readonly service: HandlerContext['service'];
  readonly requestMethod: string;
  readonly requestHeader: HandlerContext['requestHeader'];
  readonly responseHeader: HandlerContext['responseHeader'];
  readonly responseTrailer: HandlerContext['responseTrailer'];
  readonly protocolName: string;
  readonly values: HandlerContext['values'];
  readonly url: string;

  constructor(
    private readonly req: UnaryRequest | StreamRequest,
    private readonly frame: CallFrame,
  ) {
    this.method = req.method;
    this.service = req.service;
    this.requestMethod = req.requestMethod;
    this.requestHeader = req.header;
    this.responseHeader = frame.responseHeader;
    this.responseTrailer = frame.responseTrailer;
    this.protocolName = frame.protocolName;
    this.values = req.contextValues;
    this.url = req.url;
  }

  get signal(): AbortSignal {
    return this.req.signal;
  }

  timeoutMs(): number | undefined {
    return this.frame.timeoutMs();
  }
}

async function single<T>(messages: AsyncIterable<T>): Promise<T> {
  for await (const message of messages) return message;
  throw new ConnectError('missing request message', Code.InvalidArgument);
}

async function* normalized<Desc extends DescMessage>(
  desc: Desc,
  messages: AsyncIterable<Parameters<typeof create<Desc>>[1]>,
): AsyncIterable<ReturnType<typeof create<Desc>>> {
  for await (const message of messages) yield create(desc, message);
}

function expectUnary(response: UnaryResponse | StreamResponse): UnaryResponse {
  if (response.stream) throw new ConnectError('an interceptor answered a stream', Code.Internal);
  return response;
}

function expectStream(response: UnaryResponse | StreamResponse): StreamResponse {
  if (!response.stream) throw new ConnectError('an interceptor answered a unary', Code.Internal);
  return response;
}

function wiringError(spec: MethodImplSpec): ConnectError {
  return new ConnectError(`${spec.method.name} called with the wrong request kind`, Code.Internal);
}
