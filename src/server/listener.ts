/**
 * One port for everything. gRPC clients speak HTTP/2 cleartext with prior
 * knowledge; Stripe, curl and browsers speak HTTP/1.1. Node's plain
 * http2.createServer only understands the former (allowHTTP1 works with TLS
 * only), so each cleartext connection is sniffed: the HTTP/2 connection
 * preface starts with "PRI ", which no HTTP/1.1 method does. With TLS, ALPN
 * makes the choice and one secure HTTP/2 server with allowHTTP1 serves both.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { TlsConfig } from '../config.js';
import type { NodeHandler } from './http-routes.js';

export interface Listener {
  readonly port: number;
  /** Stops accepting, lets in-flight requests finish, then cuts what is left after graceMs. */
  close(graceMs: number): Promise<void>;
}

export interface ListenOptions {
  readonly host: string;
  readonly port: number;
  readonly tls: TlsConfig | undefined;
}

const prefaceStart = Buffer.from('PRI ');

export async function listen(handler: NodeHandler, options: ListenOptions): Promise<Listener> {
  const sessions = new Set<http2.Http2Session>();
  const h2 = options.tls
    ? http2.createSecureServer(
        {
          allowHTTP1: true,
          cert: readFileSync(options.tls.certFile),
          key: readFileSync(options.tls.keyFile),
        },
        handler,
      )
    : http2.createServer(handler);
  h2.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  const h1 = http.createServer(handler);
  // Keep-alive clients (curl, browsers, Stripe) must not outlive shutdown.
  h1.keepAliveTimeout = 5000;

  const front = options.tls ? h2 : net.createServer((socket) => routeConnection(socket, h2, h1));
  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.listen(options.port, options.host, () => resolve());
  });
  const address = front.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return { port, close: (graceMs) => closeAll(front, h1, sessions, graceMs) };
}

function routeConnection(socket: net.Socket, h2: http2.Http2Server, h1: http.Server): void {
  let buffered = Buffer.alloc(0);
  const onReadable = () => {
    let chunk: Buffer | null = socket.read() as Buffer | null;
    while (chunk !== null) {
      buffered = Buffer.concat([buffered, chunk]);
      chunk = socket.read() as Buffer | null;
    }
    if (
      buffered.length < prefaceStart.length &&
      !prefaceStart.subarray(0, buffered.length).equals(buffered)
    ) {
      handOver(h1); // Already not a preface: no need to wait for four bytes.
    } else if (buffered.length >= prefaceStart.length) {
      handOver(buffered.subarray(0, prefaceStart.length).equals(prefaceStart) ? h2 : h1);
    }
  };
  const handOver = (server: net.Server | http2.Http2Server) => {
    socket.off('readable', onReadable);
    socket.off('error', onError);
    socket.unshift(buffered);
    server.emit('connection', socket);
  };
  const onError = () => socket.destroy();
  socket.on('readable', onReadable);
  socket.on('error', onError);
}

async function closeAll(
  front: net.Server | http2.Http2SecureServer,
  h1: http.Server,
  sessions: Set<http2.Http2Session>,
  graceMs: number,
): Promise<void> {
  const frontClosed = new Promise<void>((resolve) => front.close(() => resolve()));
  // GOAWAY: no new streams; open ones may finish.
  for (const session of sessions) session.close();
  // HTTP/1.1 keep-alive connections go as soon as they are idle, not after
  // their keep-alive timeout (clients like undici keep them for seconds).
  h1.closeIdleConnections();
  const sweep = setInterval(() => h1.closeIdleConnections(), 50);
  const timer = setTimeout(() => {
    for (const session of sessions) session.destroy();
    h1.closeAllConnections();
  }, graceMs);
  await Promise.all([frontClosed, ...[...sessions].map(waitForClose)]);
  clearInterval(sweep);
  clearTimeout(timer);
}

function waitForClose(session: http2.Http2Session): Promise<void> {
  return session.closed
    ? Promise.resolve()
    : new Promise((resolve) => session.once('close', () => resolve()));
}
