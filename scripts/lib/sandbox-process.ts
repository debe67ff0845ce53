/**
 * The local Stripe sandbox inside `npm run start:local` (unless
 * STRIPE_SECRET_KEY points at a real Stripe test-mode account): it listens
 * on SANDBOX_PORT (default 8081) and keeps its state in
 * `.data/sandbox-state.json`; its key is generated once into `.data/`.
 * Also the local secrets the service needs for customer tokens.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Sandbox, startSandbox } from '../../sandbox/index.js';

export const DEFAULT_SANDBOX_PORT = 8081;

export interface LocalSandbox {
  readonly sandbox: Sandbox;
  /** The dev project's key in the sandbox. */
  readonly secretKey: string;
  stop(): Promise<void>;
}

/** A secret generated on first use and kept in `file` (mode 0600) after. */
export function localSecret(file: string, make: () => string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const secret = make();
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

export async function startLocalSandbox(
  dataDir: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<LocalSandbox> {
  const port = sandboxPort(env.SANDBOX_PORT);
  const secretKey = localSecret(
    path.join(dataDir, 'sandbox-key'),
    () => `sk_test_sandbox_${randomBytes(12).toString('hex')}`,
  );
  const sandbox = await startSandbox({
    port,
    statePath: path.join(dataDir, 'sandbox-state.json'),
    hostedPages: true,
  });
  return { sandbox, secretKey, stop: () => sandbox.close() };
}

function sandboxPort(value: string | undefined): number {
  if (value === undefined || value === '') return DEFAULT_SANDBOX_PORT;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`SANDBOX_PORT must be a port number (got '${value}')`);
  }
  return port;
}

/** CUSTOMER_TOKEN_SECRETS for local runs: one 32-byte secret, generated once. */
export function localCustomerTokenSecrets(dataDir: string): string {
  return localSecret(path.join(dataDir, 'customer-token-secrets'), () =>
    randomBytes(32).toString('base64url'),
  );
}
