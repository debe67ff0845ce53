/**
 * Writing gRPC answers on an HTTP/2 stream (gRPC over HTTP/2 spec): the
 * Trailers-Only response, status trailers with the percent-encoded message,
 * headers copied from connect's Headers, and the small stream helpers the
 * native path needs (drain what a client still sends, wait for 'drain').
 */
import type { OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { ConnectError } from '@connectrpc/connect';
import { setTrailerStatus } from '@connectrpc/connect/protocol-grpc';
import { MapHeaders } from './map-headers.js';

/** A response of headers alone carrying the status (the spec's Trailers-Only). */
export function respondTrailersOnly(
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
export function statusTrailers(
  error: ConnectError,
  trailer: Headers | undefined,
): OutgoingHttpHeaders {
  const target = MapHeaders.empty();
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

export function copyHeaders(from: Headers, to: OutgoingHttpHeaders): void {
  if (from instanceof MapHeaders) from.copyInto(to);
  else
    from.forEach((value, key) => {
      to[key] = value;
    });
}

/** Reads and drops whatever the client still sends. */
export function drain(stream: ServerHttp2Stream): void {
  stream.on('error', ignore);
  stream.resume();
}

export function drained(stream: ServerHttp2Stream): Promise<void> {
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

export function ignore(): void {}
