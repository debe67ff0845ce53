/**
 * `tsx scripts/ensure-go-tool.ts grpcurl`: installs one pinned Go tool into
 * `.tools/bin` if it is missing or of another version (scripts/grpcurl uses
 * it on first run) and prints its path.
 */
import { ensureGoTool, type GoToolName } from './lib/local-services.js';

const names: readonly GoToolName[] = ['grpcurl'];
const name = names.find((n) => n === process.argv[2]);
if (name === undefined) {
  process.stderr.write(`usage: tsx scripts/ensure-go-tool.ts ${names.join('|')}\n`);
  process.exit(2);
}
process.stdout.write(`${await ensureGoTool(name)}\n`);
