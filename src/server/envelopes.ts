/**
 * The gRPC length-prefixed message ("envelope"): one flags byte (bit 0:
 * compressed), a 4-byte big-endian length, then the message. gRPC, gRPC-Web
 * and Connect streaming all frame messages this way.
 */

export const envelopeHeaderBytes = 5;
const compressedFlag = 0x01;

export type EnvelopeSplit =
  | { readonly ok: true; readonly messages: readonly Uint8Array[] }
  | { readonly ok: false; readonly problem: string };

/**
 * The messages in a whole request body, or why it is not a sequence of
 * envelopes. A compressed flag is refused: callers hand compressed calls
 * (a grpc-encoding other than identity) to connect before coming here.
 */
export function splitEnvelopes(bytes: Uint8Array): EnvelopeSplit {
  const messages: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length; ) {
    if (bytes.length - offset < envelopeHeaderBytes)
      return { ok: false, problem: 'truncated envelope' };
    const flags = bytes[offset] ?? 0;
    const length = readLength(bytes, offset + 1);
    // connect answers INTERNAL here; the gRPC spec calls it a protocol error, and it is the client's.
    if ((flags & compressedFlag) !== 0) {
      return { ok: false, problem: 'compressed flag set, but no grpc-encoding declared' };
    }
    const end = offset + envelopeHeaderBytes + length;
    if (end > bytes.length) return { ok: false, problem: 'truncated envelope' };
    messages.push(bytes.subarray(offset + envelopeHeaderBytes, end));
    offset = end;
  }
  return { ok: true, messages };
}

function readLength(bytes: Uint8Array, at: number): number {
  // Unsigned: the top byte can be 0x80 or more.
  return (
    ((bytes[at] ?? 0) * 0x1000000 +
      (((bytes[at + 1] ?? 0) << 16) | ((bytes[at + 2] ?? 0) << 8) | (bytes[at + 3] ?? 0))) >>>
    0
  );
}

/** One uncompressed envelope around `message`, as a Buffer ready to write. */
export function encodeEnvelope(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(envelopeHeaderBytes + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, envelopeHeaderBytes);
  return out;
}
