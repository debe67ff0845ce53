// needs: mongodb redis
/**
 * Shutdown must not wait on connections that carry no request: a connection
 * that never sent a byte (browsers open spare ones), and HTTP/1.1 keep-alive
 * connections, even while their client keeps sending requests on them (a
 * page reconnecting its stream). Either one used to hold stop() forever.
 */
import http from 'node:http';
import net from 'node:net';
import test from 'ava';
import { startTestApp } from '../helpers/app.js';
import { hasSettled, pause, waitFor } from '../helpers/wait.js';

/** Waits for `promise` to settle; a wait that never ends fails naming `what`. */
async function settles<T>(promise: Promise<T>, what: string): Promise<T> {
  await waitFor(() => hasSettled(promise), { what });
  return promise;
}

test('a connection that never sent a byte does not hold shutdown', async (t) => {
  const server = await startTestApp();
  const socket = net.connect(server.app.port, '127.0.0.1');
  t.teardown(() => socket.destroy());
  await new Promise((resolve) => socket.once('connect', resolve));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));

  await settles(server.app.stop(), 'stop() to finish');
  await settles(closed, 'the idle connection to close');
  t.true(socket.destroyed || socket.closed);
});

test('keep-alive HTTP/1.1 connections end at shutdown, even while requests keep coming', async (t) => {
  const server = await startTestApp();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const get = () =>
    new Promise<http.IncomingMessage>((resolve, reject) => {
      const request = http.get({
        host: '127.0.0.1',
        port: server.app.port,
        path: '/healthz',
        agent,
      });
      request.once('response', (response) => {
        response.resume();
        response.once('end', () => resolve(response));
      });
      request.once('error', reject);
    });
  t.is((await get()).headers.connection, 'keep-alive');

  // A client that asks again every 20 ms on its one connection.
  let stopping = false;
  const answers: (string | undefined)[] = [];
  const client = (async () => {
    while (!stopping) {
      try {
        answers.push((await get()).headers.connection);
      } catch {
        return;
      }
      await pause(20);
    }
  })();
  await waitFor(() => answers.length, { what: 'the client to be asking', until: (n) => n >= 2 });
  await settles(server.app.stop(), 'stop() to finish');
  stopping = true;
  await client;
  t.true(answers.length > 0);
});
