// needs: mongodb redis
/**
 * TLS from config: one port serves HTTP/2 (gRPC, Connect) and HTTP/1.1
 * (Connect, gRPC-Web, plain HTTP) over TLS, chosen by ALPN.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createClient } from '@connectrpc/connect';
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from '@connectrpc/connect-node';
import test from 'ava';
import { AdminService } from '../../gen/billing/v1/admin_pb.js';
import { createTestProject, startTestApp, type TestApp, type TestProject } from '../helpers/app.js';

const run = promisify(execFile);
let server: TestApp;
let project: TestProject;
let ca: Buffer;

test.before(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tls-'));
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout',
    keyFile,
    '-out',
    certFile,
  ]);
  ca = await readFile(certFile);
  server = await startTestApp({ env: { TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile } });
  project = await createTestProject(server.app, 'tls');
});

test.after.always(async () => {
  await server?.app.stop();
});

const baseUrl = () => `https://127.0.0.1:${server.app.port}`;
const auth = () => ({ headers: { authorization: `Bearer ${project.adminKey}` } });

test('gRPC and Connect over HTTP/2 with TLS', async (t) => {
  for (const transport of [
    createGrpcTransport({ baseUrl: baseUrl(), nodeOptions: { ca } }),
    createConnectTransport({ baseUrl: baseUrl(), httpVersion: '2', nodeOptions: { ca } }),
  ]) {
    const answer = await createClient(AdminService, transport).getProject({}, auth());
    t.is(answer.project?.id, project.projectId);
  }
});

test('Connect and gRPC-Web over HTTP/1.1 with TLS', async (t) => {
  for (const transport of [
    createConnectTransport({ baseUrl: baseUrl(), httpVersion: '1.1', nodeOptions: { ca } }),
    createGrpcWebTransport({ baseUrl: baseUrl(), httpVersion: '1.1', nodeOptions: { ca } }),
  ]) {
    const answer = await createClient(AdminService, transport).getProject({}, auth());
    t.is(answer.project?.id, project.projectId);
  }
});

test('plain HTTPS endpoints answer on the same port', async (t) => {
  // curl speaks HTTP/1.1 here, as Stripe's webhooks and browsers do.
  const { stdout } = await run('curl', ['-s', '--http1.1', '-k', `${baseUrl()}/healthz`]);
  t.is(stdout, '{"status":"ok"}');
});
