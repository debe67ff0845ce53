// needs: mongodb redis
/**
 * Slow-loris clients cannot hold connections: on the one port, a connection
 * that sends nothing, partial HTTP/1.1 headers, headers and then no body, or
 * only the HTTP/2 preface, is closed by the server after the configured
 * timeout; so is a quiet keep-alive connection, and a silent connection to
 * the metrics listener. A WatchEntitlements stream, quiet apart from its
 * heartbeats, outlives the idle timeout many times over, over HTTP/2 and
 * HTTP/1.1. With TLS, a client that never finishes its handshake, or sends
 * partial headers after it, is disconnected too. Each test waits for the socket's 'close' (or the stream's
 * messages), not for a time.
 */
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { createClient, type Transport } from '@connectrpc/connect';
import { createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import test from 'ava';
import { AdminService } from '../../gen/billing/v1/admin_pb.js';
import { EntitlementsService, WatchEventKind } from '../../gen/billing/v1/entitlements_pb.js';
import { createTestProject, startTestApp, type TestApp, type TestProject } from '../helpers/app.js';

const idleMs = 800;
const timeouts = {
  HTTP_HEADERS_TIMEOUT_MS: '300',
  HTTP_REQUEST_TIMEOUT_MS: '500',
  HTTP_IDLE_TIMEOUT_MS: String(idleMs),
  WATCH_HEARTBEAT_MS: '100',
};
let server: TestApp;
let tlsServer: TestApp;
let project: TestProject;

test.before(async () => {
  server = await startTestApp({ env: timeouts });
  project = await createTestProject(server.app, 'slow clients');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'slow-tls-'));
  const [certFile, keyFile] = [path.join(dir, 'cert.pem'), path.join(dir, 'key.pem')];
  await promisify(execFile)('openssl', [
    ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost'],
    ...['-keyout', keyFile, '-out', certFile],
  ]);
  tlsServer = await startTestApp({
    env: { ...timeouts, TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile },
  });
});

test.after.always(async () => {
  await server?.app.stop();
  await tlsServer?.app.stop();
});

/** A raw TCP connection and a promise of its close (which only the server can cause here). */
async function rawConnection(port: number): Promise<{ socket: net.Socket; closed: Promise<void> }> {
  const socket = net.connect(port, '127.0.0.1');
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  // A reset instead of a FIN is a close too.
  socket.on('error', () => undefined);
  // Read (and drop) what the server sends, such as a 408: a paused socket
  // would never see the server's FIN behind it.
  socket.resume();
  await new Promise((resolve) => socket.once('connect', resolve));
  return { socket, closed };
}

const slowClients: ReadonlyArray<[string, string]> = [
  ['sends nothing', ''],
  ['sends half a request line', 'GET /hea'],
  ['sends partial headers', 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: '],
  [
    'sends headers, then none of the body',
    'POST /webhooks/stripe/p1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"id"',
  ],
  ['sends the HTTP/2 preface, then nothing', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
];

for (const [name, bytes] of slowClients) {
  test(`a client that ${name} is disconnected`, async (t) => {
    t.timeout(30_000);
    const { socket, closed } = await rawConnection(server.app.port);
    t.teardown(() => socket.destroy());
    if (bytes !== '') socket.write(bytes);
    await closed;
    t.pass();
  });
}

test('a keep-alive HTTP/1.1 connection with no next request is disconnected', async (t) => {
  t.timeout(30_000);
  const { socket, closed } = await rawConnection(server.app.port);
  t.teardown(() => socket.destroy());
  const answered = new Promise<string>((resolve) =>
    socket.once('data', (chunk: Buffer) => resolve(chunk.toString())),
  );
  socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  t.regex(await answered, /^HTTP\/1\.1 200/);
  await closed;
});

test('a silent connection to the metrics listener is disconnected', async (t) => {
  t.timeout(30_000);
  const { socket, closed } = await rawConnection(server.app.metricsPort ?? 0);
  t.teardown(() => socket.destroy());
  await closed;
  t.pass();
});

test('TLS: a client that never sends its handshake is disconnected', async (t) => {
  t.timeout(30_000);
  const { socket, closed } = await rawConnection(tlsServer.app.port);
  t.teardown(() => socket.destroy());
  await closed;
  t.pass();
});

test('TLS: a client that sends partial HTTP/1.1 headers after the handshake is disconnected', async (t) => {
  t.timeout(30_000);
  const socket = tls.connect({
    port: tlsServer.app.port,
    host: '127.0.0.1',
    ALPNProtocols: ['http/1.1'],
    rejectUnauthorized: false,
  });
  t.teardown(() => socket.destroy());
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  socket.resume();
  await new Promise((resolve) => socket.once('secureConnect', resolve));
  t.is(socket.alpnProtocol, 'http/1.1');
  socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
  await closed;
});

const transports: ReadonlyArray<[string, () => Transport]> = [
  ['gRPC over HTTP/2', () => createGrpcTransport({ baseUrl: server.baseUrl })],
  [
    'Connect over HTTP/1.1',
    () => createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' }),
  ],
];

for (const [name, transport] of transports) {
  test(`a WatchEntitlements stream (${name}) outlives the idle timeout`, async (t) => {
    t.timeout(60_000);
    const auth = { authorization: `Bearer ${project.adminKey}` };
    const customerId = `slow-watch-${name.length}`;
    const abort = new AbortController();
    t.teardown(() => abort.abort());
    const stream = createClient(EntitlementsService, transport())
      .watchEntitlements({ customerId }, { headers: auth, signal: abort.signal })
      [Symbol.asyncIterator]();
    const first = await stream.next();
    t.is(first.value?.kind, WatchEventKind.SNAPSHOT);
    // Only heartbeats cross the connection, for three idle timeouts.
    const openedAt = Date.now();
    let heartbeats = 0;
    while (Date.now() - openedAt < 3 * idleMs) {
      const next = await stream.next();
      t.false(next.done, 'the stream ended');
      t.is(next.value?.kind, WatchEventKind.HEARTBEAT);
      heartbeats += 1;
    }
    t.true(heartbeats >= 3);
    // Still the same live stream: a change reaches it.
    await createClient(AdminService, transport()).grantEntitlement(
      { customerId, feature: 'beta', reason: 'slow clients test' },
      { headers: auth },
    );
    for (;;) {
      const next = await stream.next();
      if (next.done) return t.fail('the stream ended');
      if (next.value.kind === WatchEventKind.CHANGE) {
        t.deepEqual(
          next.value.entitlements.map((e) => e.feature),
          ['beta'],
        );
        return;
      }
    }
  });
}
