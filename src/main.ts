/**
 * Entry point: load and validate config, start, and stop gracefully on
 * SIGTERM or SIGINT. A config error exits with status 2 and names the
 * variable; so does a master key that cannot open the stored secrets.
 */
import { startApp } from './app.js';
import { isConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (!isConfigError(err)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  const logger = createLogger({ level: config.logLevel, base: { service: 'billing' } });
  const app = await startApp(config, logger);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger.info('signal received', { signal });
      app.stop().then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error('shutdown failed', { error: err });
          process.exit(1);
        },
      );
    });
  }
}

main().catch((err: unknown) => {
  if (isConfigError(err)) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`billing service failed to start: ${message}\n`);
  process.exit(1);
});
