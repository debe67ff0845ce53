// needs: compose
/**
 * Deployable: docker-compose.yml is accepted by Compose (`docker compose
 * config`, or the standalone `docker-compose config` where the plugin is
 * missing; neither needs a Docker engine), runs MongoDB 7, Redis 7,
 * stripe-mock and the service, and its environment is one the service's own
 * config accepts. The Dockerfile copies only what exists.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { ensureComposeCommand } from '../../scripts/lib/local-services.js';
import { loadConfig } from '../../src/config.js';
import { repoRoot } from '../helpers/process.js';
import { requireNeed } from '../helpers/services.js';

const run = promisify(execFile);

test('docker compose config accepts the file, and the service env is valid config', async (t) => {
  requireNeed('compose');
  const [command, ...prefix] = await ensureComposeCommand();
  if (!command) throw new Error('no compose command');
  const file = path.join(repoRoot, 'docker-compose.yml');
  const { stdout } = await run(command, [...prefix, '-f', file, 'config'], { cwd: repoRoot });
  t.regex(stdout, /image: mongo:7/);
  t.regex(stdout, /image: redis:7/);
  t.regex(stdout, /stripe\/stripe-mock/);
  t.regex(stdout, /billing:/);

  const compose = await readFile(path.join(repoRoot, 'docker-compose.yml'), 'utf8');
  const env: Record<string, string> = {};
  const block = compose.slice(compose.indexOf('  billing:'));
  for (const match of block.matchAll(/^ {6}([A-Z_]+): (.*)$/gm)) {
    const [, name, raw] = match;
    if (!name || raw === undefined) continue;
    env[name] = raw.replace(/^"|"$/g, '').replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');
  }
  t.truthy(env.MONGODB_URL);
  t.notThrows(() => loadConfig(env));
});

test('the Dockerfile copies only paths that exist and starts src/main.ts', async (t) => {
  const dockerfile = await readFile(path.join(repoRoot, 'Dockerfile'), 'utf8');
  for (const match of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
    for (const source of (match[1] ?? '').split(' '))
      t.true(existsSync(path.join(repoRoot, source)), source);
  }
  t.regex(dockerfile, /CMD \["node", "--import", "tsx", "src\/main.ts"\]/);
});
