/**
 * Binary request bodies that are not a valid protobuf message must be
 * INVALID_ARGUMENT, but connect-es answers INTERNAL when it cannot parse
 * one (its binary serializer wraps every decode error as Internal). So each
 * RPC handler is wrapped: a binary body is decoded here first; when it does
 * not decode, the call goes on with an empty message and a mark in its
 * context values, and `createMalformedBodyInterceptor` refuses it with
 * INVALID_ARGUMENT, which connect then writes in the right protocol (Connect,
 * gRPC or gRPC-Web). Bodies that declare a message encoding are left to
 * connect; an envelope marked compressed in a call that declares none is
 * refused here too (connect would answer INTERNAL).
 */
import { type DescMessage, fromBinary } from '@bufbuild/protobuf';
import {
  Code,
  ConnectError,
  type ContextValues,
  createContextKey,
  createContextValues,
  type Interceptor,
} from '@connectrpc/connect';
import {
  assertByteStreamRequest,
  createAsyncIterable,
  readAllBytes,
  type UniversalHandler,
  type UniversalServerRequest,
} from '@connectrpc/connect/protocol';
import { splitEnvelopes } from './envelopes.js';

/** Why the request read ahead cannot be served (undecodable, or too large). */
const requestProblemKey = createContextKey<ConnectError | undefined>(undefined, {
  description: 'request problem',
});

/**
 * Marks a call whose request was read ahead and cannot be served; the
 * interceptor below refuses it, after authentication, on every protocol.
 */
export function markRequestProblem(contextValues: ContextValues, problem: ConnectError): void {
  contextValues.set(requestProblemKey, problem);
}

/** The interceptors of every RPC, on every protocol: the service's, then the malformed-body check. */
export function rpcInterceptors(interceptors: readonly Interceptor[]): Interceptor[] {
  return [...interceptors, createMalformedBodyInterceptor()];
}

function createMalformedBodyInterceptor(): Interceptor {
  // Not async: a call with no problem goes on without a promise of its own.
  return (next) => (req) => {
    const problem = req.contextValues.get(requestProblemKey);
    return problem ? Promise.reject(problem) : next(req);
  };
}

export type Framing = 'raw' | 'enveloped';

function framingOf(contentType: string | null): Framing | undefined {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === 'application/proto') return 'raw';
  if (
    [
      'application/grpc',
      'application/grpc+proto',
      'application/grpc-web',
      'application/grpc-web+proto',
      'application/connect+proto',
    ].includes(type)
  ) {
    return 'enveloped';
  }
  return undefined;
}

const emptyEnvelope = new Uint8Array(5);

export function guardMalformedBodies(
  handler: UniversalHandler,
  readMaxBytes: number,
): UniversalHandler {
  // Only one request message can be read ahead; a client stream never ends before the call does.
  const kind = handler.method.methodKind;
  if (kind !== 'unary' && kind !== 'server_streaming') return handler;
  const guarded = async (req: UniversalServerRequest) => {
    const framing = framingOf(req.header.get('content-type'));
    if (req.method !== 'POST' || !framing || isCompressed(req, framing)) return handler(req);
    assertByteStreamRequest(req);
    const { bytes, problem } = await readAndDecode(req.body, framing, handler, readMaxBytes);
    const contextValues = req.contextValues ?? createContextValues();
    if (problem) markRequestProblem(contextValues, problem);
    const body = problem ? (framing === 'raw' ? new Uint8Array(0) : emptyEnvelope) : bytes;
    return handler({ ...req, contextValues, body: createAsyncIterable([body]) });
  };
  return Object.assign(guarded, {
    protocolNames: handler.protocolNames,
    service: handler.service,
    method: handler.method,
    requestPath: handler.requestPath,
    allowedMethods: handler.allowedMethods,
    supportedContentType: handler.supportedContentType,
  });
}

/** Whether the request declares a message encoding, in the header its protocol uses for it. */
function isCompressed(req: UniversalServerRequest, framing: Framing): boolean {
  const encoding =
    framing === 'raw'
      ? req.header.get('content-encoding')
      : (req.header.get('grpc-encoding') ?? req.header.get('connect-content-encoding'));
  return (encoding ?? 'identity') !== 'identity';
}

async function readAndDecode(
  body: AsyncIterable<Uint8Array>,
  framing: Framing,
  handler: UniversalHandler,
  readMaxBytes: number,
): Promise<{ bytes: Uint8Array; problem: ConnectError | undefined }> {
  let bytes: Uint8Array;
  try {
    // An envelope adds five bytes to the message it carries.
    bytes = await readAllBytes(body, readMaxBytes + 5);
  } catch (err) {
    return { bytes: new Uint8Array(0), problem: tooLargeProblem(err, readMaxBytes) };
  }
  const input = handler.method.input;
  const decoded = decodeRequest(bytes, framing, input, (data) => fromBinary(input, data));
  return { bytes, problem: decoded.ok ? undefined : decoded.problem };
}

export type DecodedRequest<T> =
  | { readonly ok: true; readonly message: T }
  | { readonly ok: false; readonly problem: ConnectError };

/**
 * The one request message in `bytes` (a whole request body), or the
 * INVALID_ARGUMENT to answer: a unary or server-streaming call carries
 * exactly one message, so none or several are the client's fault too.
 */
export function decodeRequest<T>(
  bytes: Uint8Array,
  framing: Framing,
  input: DescMessage,
  decode: (data: Uint8Array) => T,
): DecodedRequest<T> {
  const refuse = (problem: string): DecodedRequest<T> => ({
    ok: false,
    problem: new ConnectError(
      `the request is not a valid ${input.typeName}: ${problem}`,
      Code.InvalidArgument,
    ),
  });
  let data: Uint8Array;
  if (framing === 'raw') {
    data = bytes;
  } else {
    const split = splitEnvelopes(bytes);
    if (!split.ok) return refuse(split.problem);
    const [first, ...rest] = split.messages;
    if (first === undefined || rest.length > 0) {
      return refuse(`expected one request message, got ${split.messages.length}`);
    }
    data = first;
  }
  try {
    return { ok: true, message: decode(data) };
  } catch (err) {
    return refuse(err instanceof Error ? err.message : 'undecodable bytes');
  }
}

/** The refusal of a request body over `readMaxBytes`, on every protocol. */
export function tooLargeProblem(cause: unknown, readMaxBytes: number): ConnectError {
  return ConnectError.from(
    cause ?? `message size is larger than configured readMaxBytes ${readMaxBytes}`,
    Code.ResourceExhausted,
  );
}
