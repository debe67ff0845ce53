/** Entry point of `npm run sandbox -- <command>` (sandbox/control/cli.ts). */
import { CliUsageError, runCli, USAGE } from './control/cli.js';

const baseUrl = process.env.SANDBOX_URL ?? `http://127.0.0.1:${process.env.SANDBOX_PORT || '8081'}`;

runCli(process.argv.slice(2), { baseUrl, out: (line) => process.stdout.write(`${line}\n`) }).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof CliUsageError) {
      process.stderr.write(`${error.message}\n${USAGE}\n`);
      process.exit(2);
    }
    const message = error instanceof Error ? error.message : String(error);
    const refused = message.includes('fetch failed');
    process.stderr.write(
      refused
        ? `no sandbox at ${baseUrl}: start it with npm run start:local or npm run sandbox:serve\n`
        : `${message}\n`,
    );
    process.exit(1);
  },
);
