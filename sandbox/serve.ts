/**
 * `npm run sandbox:serve`: the sandbox alone, on SANDBOX_PORT (default
 * 8081), state in SANDBOX_STATE (default .data/sandbox-state.json), for a
 * service started some other way (STRIPE_API_URL=http://127.0.0.1:8081).
 */
import { fileURLToPath } from 'node:url';
import { startSandbox } from './sandbox.js';

const defaultState = fileURLToPath(new URL('../.data/sandbox-state.json', import.meta.url));

async function main(): Promise<void> {
  const sandbox = await startSandbox({
    port: Number(process.env.SANDBOX_PORT || '8081'),
    statePath: process.env.SANDBOX_STATE || defaultState,
    hostedPages: true,
  });
  process.stderr.write(
    `Stripe sandbox on ${sandbox.url} (any sk_test_... key; state ${process.env.SANDBOX_STATE || defaultState})\n` +
      `  the service: STRIPE_API_URL=${sandbox.url}\n` +
      '  drive it:    npm run sandbox -- status\n',
  );
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      sandbox.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `sandbox failed: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
