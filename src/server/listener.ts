/**
 * One port for everything. gRPC clients speak HTTP/2 cleartext with prior
 * knowledge; Stripe, curl and browsers speak HTTP/1.1. Node's plain
 * http2.createServer only understands the former (allowHTTP1 works with TLS
 * only), so each cleartext connection is sniffed: the HTTP/2 connection
 * preface starts with "PRI ", which no HTTP/1.1 method does. With TLS, ALPN
 * makes the choice and one secure HTTP/2 server with allowHTTP1 serves both.
 *
 * Every connection is timed (`HttpTimeouts`), so clients that open
 * connections and then send nothing, or a trickle, cannot hold them: the
 * sniffing phase and HTTP/1.1 headers get `headersMs`, a whole HTTP/1.1
 * request `requestMs`, and a connection or HTTP/2 session with no bytes
 * either way for `idleMs` is closed. Streams stay up: their heartbeats are
 * bytes, and `idleMs` is longer than the heartbeat interval (config checks).
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { HttpTimeouts, TlsConfig } from '../config.js';
import type { NodeHandler } from '../node-http.js';
import type { Http2StreamHandler } from './grpc-streams.js';

export interface Listener {
  readonly port: number;
  /** Stops accepting, lets in-flight requests finish, then cuts what is left after graceMs. */
  close(graceMs: number): Promise<void>;
}

export interface ListenOptions {
  readonly host: string;
  readonly port: number;
  readonly tls: TlsConfig | undefined;
  readonly timeouts: HttpTimeouts;
  /** Serves HTTP/2 streams it recognises (native gRPC) before `handler` sees them. */
  readonly streams?: Http2StreamHandler;
}

const prefaceStart = Buffer.from('PRI ');
/** An idle keep-alive HTTP/1.1 connection closes after this (or idleMs, if shorter). */
const keepAliveMs = 5000;

export async function listen(handler: NodeHandler, options: ListenOptions): Promise<Listener> {
  const { timeouts } = options;
  const sessions = new Set<http2.Http2Session>();
  const h2 = options.tls
    ? secureServer(handler, options.tls, timeouts)
    : http2.createServer(handler);
  if (options.streams) interceptStreams(h2, options.streams);
  // Sessions with no frame either way for idleMs are destroyed (Node's
  // default when nobody listens for the server's 'timeout').
  h2.setTimeout(timeouts.idleMs);
  h2.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  const h1 = http.createServer(handler);
  applyHttp1Timeouts(h1, timeouts);
  // h1 never listens (the front server hands it connections), and Node
  // starts the checker of headersTimeout and requestTimeout on 'listening'.
  h1.emit('listening');

  const connections = new CleartextConnections(h1);
  const front = options.tls
    ? h2
    : // Without noDelay, Nagle held small responses back for the peer's delayed
      // ACK: under load the process sat idle half of the time.
      net.createServer({ noDelay: true }, (socket) =>
        routeConnection(socket, h2, h1, connections, timeouts),
      );
  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.listen(options.port, options.host, () => resolve());
  });
  const address = front.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    port,
    close: async (graceMs) => {
      await closeAll(front, sessions, connections, graceMs);
      // Stops the timeout checker started above.
      h1.close();
    },
  };
}

function secureServer(
  handler: NodeHandler,
  tls: TlsConfig,
  timeouts: HttpTimeouts,
): http2.Http2SecureServer {
  const server = http2.createSecureServer(
    {
      allowHTTP1: true,
      cert: readFileSync(tls.certFile),
      key: readFileSync(tls.keyFile),
      // A TLS client that never finishes its handshake is a sniffing-phase client.
      handshakeTimeout: timeouts.headersMs,
      noDelay: true,
    },
    handler,
  );
  // HTTP/1.1 over TLS is parsed by this server itself.
  applyHttp1Timeouts(server, timeouts);
  return server;
}

/**
 * Puts `streams` in front of the compatibility layer: Node's http2 server
 * turns every stream into a request/response pair through its own 'stream'
 * listener (added with the request handler). That listener is taken off
 * and called only for the streams `streams` leaves alone, so one HTTP/2
 * connection can carry native gRPC and Connect calls side by side.
 */
function interceptStreams(
  server: http2.Http2Server | http2.Http2SecureServer,
  streams: Http2StreamHandler,
): void {
  const compat = server.listeners('stream');
  // One: the request handler's (checked, so a Node change fails loudly rather than serving twice).
  if (compat.length !== 1)
    throw new Error(`expected one 'stream' listener, found ${compat.length}`);
  server.removeAllListeners('stream');
  const onStream = (
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    flags: number,
    rawHeaders: string[],
  ) => {
    if (streams(stream, headers)) return;
    for (const listener of compat) listener.call(server, stream, headers, flags, rawHeaders);
  };
  server.on('stream', onStream);
}

/** The fields Node's HTTP/1.1 servers read their timeouts from (an http2 secure server's too). */
interface Http1TimeoutFields {
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  /** Socket inactivity, either way. */
  timeout: number;
  /** How often headersTimeout and requestTimeout are checked (Node's default: 30 s). */
  connectionsCheckingInterval: number;
}

/** Sets Node's HTTP/1.1 timeouts; before the server listens (the checker interval is read then). */
export function applyHttp1Timeouts(
  server: http.Server | http2.Http2SecureServer,
  timeouts: HttpTimeouts,
): void {
  const fields: Http1TimeoutFields = {
    headersTimeout: timeouts.headersMs,
    requestTimeout: timeouts.requestMs,
    // Keep-alive clients (curl, browsers, Stripe) must not outlive shutdown.
    keepAliveTimeout: Math.min(keepAliveMs, timeouts.idleMs),
    timeout: timeouts.idleMs,
    connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(timeouts.headersMs / 4))),
  };
  Object.assign(server, fields);
}

/**
 * The cleartext connections that shutdown must close itself: those still
 * being sniffed (browsers open spare connections and send nothing on them),
 * and HTTP/1.1 ones (h1 never listens, so Node's own closeIdleConnections
 * does not know them). Once closing, idle ones end at once, busy ones after
 * their response, and the grace period's end cuts the rest.
 */
class CleartextConnections {
  private readonly sniffing = new Set<net.Socket>();
  /** HTTP/1.1 sockets, with how many of their requests are in flight. */
  private readonly http1 = new Map<net.Socket, number>();
  private closing = false;

  constructor(h1: http.Server) {
    h1.prependListener('request', (req, res) => {
      const socket = req.socket;
      this.http1.set(socket, (this.http1.get(socket) ?? 0) + 1);
      if (this.closing) res.setHeader('connection', 'close');
      res.once('close', () => {
        const inFlight = this.http1.get(socket);
        if (inFlight === undefined) return;
        this.http1.set(socket, inFlight - 1);
        if (this.closing && inFlight === 1) socket.end();
      });
    });
  }

  sniff(socket: net.Socket): void {
    this.sniffing.add(socket);
    socket.once('close', () => {
      this.sniffing.delete(socket);
      this.http1.delete(socket);
    });
  }

  handedOver(socket: net.Socket, toHttp1: boolean): void {
    this.sniffing.delete(socket);
    if (toHttp1) this.http1.set(socket, 0);
  }

  closeIdle(): void {
    this.closing = true;
    for (const socket of this.sniffing) socket.destroy();
    for (const [socket, inFlight] of this.http1) if (inFlight === 0) socket.end();
  }

  destroyAll(): void {
    for (const socket of [...this.sniffing, ...this.http1.keys()]) socket.destroy();
  }
}

function routeConnection(
  socket: net.Socket,
  h2: http2.Http2Server,
  h1: http.Server,
  connections: CleartextConnections,
  timeouts: HttpTimeouts,
): void {
  connections.sniff(socket);
  // A connection that never sends its first bytes is never handed over.
  const onTimeout = () => socket.destroy();
  socket.setTimeout(timeouts.headersMs);
  socket.once('timeout', onTimeout);
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
    connections.handedOver(socket, server === h1);
    socket.off('readable', onReadable);
    socket.off('error', onError);
    socket.off('timeout', onTimeout);
    socket.setTimeout(0);
    socket.unshift(buffered);
    server.emit('connection', socket);
  };
  const onError = () => socket.destroy();
  socket.on('readable', onReadable);
  socket.on('error', onError);
}

async function closeAll(
  front: net.Server | http2.Http2SecureServer,
  sessions: Set<http2.Http2Session>,
  connections: CleartextConnections,
  graceMs: number,
): Promise<void> {
  const frontClosed = new Promise<void>((resolve) => front.close(() => resolve()));
  // GOAWAY: no new streams; open ones may finish.
  for (const session of sessions) session.close();
  // HTTP/1.1 keep-alive connections go as soon as they are idle, not after
  // their keep-alive timeout (clients like undici and browsers keep them for
  // seconds, and may keep sending requests on them).
  connections.closeIdle();
  const timer = setTimeout(() => {
    for (const session of sessions) session.destroy();
    connections.destroyAll();
  }, graceMs);
  await Promise.all([frontClosed, ...[...sessions].map(waitForClose)]);
  clearTimeout(timer);
}

function waitForClose(session: http2.Http2Session): Promise<void> {
  return session.closed
    ? Promise.resolve()
    : new Promise((resolve) => session.once('close', () => resolve()));
}
