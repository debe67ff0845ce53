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
import { fromBinary } from '@bufbuild/protobuf';
import {
  Code,
  ConnectError,
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

/** Why the request read ahead cannot be served (undecodable, or too large). */
const requestProblemKey = createContextKey<ConnectError | undefined>(undefined, {
  description: 'request problem',
});

export function createMalformedBodyInterceptor(): Interceptor {
  return (next) => async (req) => {
    const problem = req.contextValues.get(requestProblemKey);
    if (problem) throw problem;
    return next(req);
  };
}

type Framing = 'raw' | 'enveloped';

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
    if (problem) contextValues.set(requestProblemKey, problem);
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
    return { bytes: new Uint8Array(0), problem: ConnectError.from(err, Code.ResourceExhausted) };
  }
  const problem = decodeProblem(bytes, framing, (data) => fromBinary(handler.method.input, data));
  const message = `the request is not a valid ${handler.method.input.typeName}: ${problem}`;
  return { bytes, problem: problem ? new ConnectError(message, Code.InvalidArgument) : undefined };
}

function decodeProblem(
  bytes: Uint8Array,
  framing: Framing,
  decode: (data: Uint8Array) => unknown,
): string | undefined {
  const messages: Uint8Array[] = [];
  if (framing === 'raw') {
    messages.push(bytes);
  } else {
    for (let offset = 0; offset < bytes.length; ) {
      if (bytes.length - offset < 5) return 'truncated envelope';
      const flags = bytes[offset] ?? 0;
      const length = new DataView(bytes.buffer, bytes.byteOffset + offset + 1, 4).getUint32(0);
      // connect answers INTERNAL here; the gRPC spec calls it a protocol error, and it is the client's.
      if ((flags & 0x01) !== 0) return 'compressed flag set, but no grpc-encoding declared';
      if (offset + 5 + length > bytes.length) return 'truncated envelope';
      messages.push(bytes.subarray(offset + 5, offset + 5 + length));
      offset += 5 + length;
    }
  }
  for (const message of messages) {
    try {
      decode(message);
    } catch (err) {
      return err instanceof Error ? err.message : 'undecodable bytes';
    }
  }
  return undefined;
}
