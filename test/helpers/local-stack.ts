/**
 * The service and the Stripe sandbox wired as `npm run start:local` wires
 * them (scripts/lib/local-stripe.ts: the sandbox with hosted pages, the SDK
 * pointed at it, the project's key, webhook endpoint and sample catalog,
 * customer-token secrets), in a data directory of the test's own and on
 * free ports, against the test run's FerretDB and Redis.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Sandbox } from '../../sandbox/index.js';
import type { DevPrice } from '../../scripts/lib/dev-catalog.js';
import {
  followSandboxClock,
  startLocalStripe,
  stripeServiceEnv,
  wireLocalProject,
} from '../../scripts/lib/local-stripe.js';
import { localCustomerTokenSecrets } from '../../scripts/lib/sandbox-process.js';
import { createTestProject, startTestApp, type TestApp, type TestProject } from './app.js';

export interface LocalStack {
  readonly server: TestApp;
  readonly sandbox: Sandbox;
  readonly project: TestProject;
  /** The sample catalog's prices, in scripts/lib/dev-catalog.ts order. */
  readonly prices: readonly DevPrice[];
  /** The service's business time: the sandbox clock it was given, as start:local gives it. */
  now(): Date;
  close(): Promise<void>;
}

/** `env`: more of the service's configuration (WATCH_HEARTBEAT_MS, say). */
export async function startLocalStack(
  name: string,
  env: Readonly<Record<string, string>> = {},
): Promise<LocalStack> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'local-stack-'));
  const local = await startLocalStripe(dataDir, { SANDBOX_PORT: '0' });
  const localSandbox = local.sandbox;
  if (localSandbox === undefined) throw new Error('start:local started no sandbox');
  const clock = followSandboxClock(localSandbox.sandbox.clock);
  const server = await startTestApp({
    env: {
      ...stripeServiceEnv(local),
      CUSTOMER_TOKEN_SECRETS: localCustomerTokenSecrets(dataDir),
      ...env,
    },
    clock,
  });
  const project = await createTestProject(server.app, name);
  const prices = await wireLocalProject(
    server.app.projects,
    project.projectId,
    server.app.port,
    local,
  );
  return {
    server,
    sandbox: localSandbox.sandbox,
    project,
    prices,
    now: () => clock.now(),
    close: async () => {
      await server.app.stop();
      await localSandbox.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
