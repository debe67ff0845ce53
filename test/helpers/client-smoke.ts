/**
 * For the client smoke tests (test/clients/*.test.ts): a live service with a
 * project, its admin key and a read-only key, described by the environment
 * variables every client's smoke program reads; and a way to run that
 * program (go test, pytest, ...) as a child process.
 */
import { spawn } from 'node:child_process';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { AdminService, Scope } from '../../gen/billing/v1/admin_pb.js';
import type { TestApp } from './app.js';
import { startBillingHarness } from './billing-harness.js';
import { type ClientControl, startClientControl } from './client-control.js';

export interface SmokeServer {
  readonly server: TestApp;
  readonly baseUrl: string;
  /** A key with the admin scope (every scope). */
  readonly adminKey: string;
  /** A key with only entitlements:read: an admin RPC answers PERMISSION_DENIED. */
  readonly readOnlyKey: string;
  /** BILLING_URL, BILLING_API_KEY, BILLING_READ_ONLY_KEY, BILLING_CONTROL_URL (./client-control.ts). */
  readonly env: Readonly<Record<string, string>>;
  stop(): Promise<void>;
}

/**
 * The service with a Stripe sandbox behind it (./billing-harness.ts), so a
 * client test can have a webhook delivered through the control endpoint.
 */
export async function startSmokeServer(name: string): Promise<SmokeServer> {
  const harness = await startBillingHarness({
    // Customer tokens too: the web OpenFeature provider reads with one.
    env: {
      WATCH_HEARTBEAT_MS: '1000',
      CUSTOMER_TOKEN_SECRETS: 'client-smoke-token-secret-0123456789ab',
    },
  });
  let control: ClientControl | undefined;
  const stop = async () => {
    await control?.close();
    await harness.close();
  };
  try {
    const { server, project } = harness;
    const admin = createClient(
      AdminService,
      createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' }),
    );
    const { secret } = await admin.createApiKey(
      { name: `${name} read-only`, scopes: [Scope.ENTITLEMENTS_READ], reason: 'client smoke test' },
      { headers: { authorization: `Bearer ${project.adminKey}` } },
    );
    control = await startClientControl(harness);
    return {
      server,
      baseUrl: server.baseUrl,
      adminKey: project.adminKey,
      readOnlyKey: secret,
      env: {
        BILLING_URL: server.baseUrl,
        BILLING_API_KEY: project.adminKey,
        BILLING_READ_ONLY_KEY: secret,
        BILLING_CONTROL_URL: control.url,
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface ChildResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** stdout and stderr, interleaved as they came. */
  readonly output: string;
  readonly seconds: number;
}

/** Runs a command to its end (killed after `timeoutMs`), collecting its output. */
export function runChild(
  command: string,
  args: readonly string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<ChildResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const timer = setTimeout(() => {
      output += `\n[killed after ${options.timeoutMs} ms]\n`;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 240_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${command}: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output, seconds: (Date.now() - started) / 1000 });
    });
  });
}
