/**
 * The reference servers every benchmark ratio is taken against, started by
 * the benchmark itself: an empty RPC (grpc.health.v1.Health/Check) on
 * grpc-go (load/grpc-go-reference, built here with the Go toolchain into
 * .tools/bin; one core, as the service gets) and on @grpc/grpc-js
 * (load/grpc-js-reference-server.ts). Both answer the same ghz settings as
 * the service's scenarios, interleaved with them in rounds (rounds.ts).
 */
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../scripts/lib/local-services.js';
import { nodeEntryArgs } from '../../scripts/lib/node-entry.js';
import type { GhzScenario } from './ghz.js';
import { type ServerProcess, spawnProgram, spawnServer } from './server-process.js';

const run = promisify(execFile);

export const grpcGoReference = 'grpc-go-empty-rpc';
export const grpcJsReference = 'grpc-js-empty-rpc';
export const referenceScenarioNames = [grpcGoReference, grpcJsReference] as const;

export interface ReferenceServers {
  /** Both references as ghz scenarios, each with the port of its server. */
  readonly scenarios: ReadonlyArray<GhzScenario & { readonly port: number }>;
  stop(): Promise<void>;
}

const emptyRpc = { call: 'grpc.health.v1.Health/Check', data: {} } as const;

export async function startReferenceServers(): Promise<ReferenceServers> {
  const binary = await buildGrpcGoReference();
  const started: ServerProcess[] = [];
  try {
    // GOMAXPROCS=1: one core, as the service (a Node process) effectively has.
    const go = await spawnProgram(binary, [], { PORT: '0', GOMAXPROCS: '1' });
    started.push(go);
    const js = await spawnServer(nodeEntryArgs('load/grpc-js-reference-server.ts'), {
      PORT: '0',
    });
    started.push(js);
    return {
      scenarios: [
        {
          name: grpcGoReference,
          description: 'empty RPC on grpc-go (GOMAXPROCS=1): the machine limit',
          ...emptyRpc,
          port: go.port,
        },
        {
          name: grpcJsReference,
          description: 'empty RPC on @grpc/grpc-js: the best Node stack',
          ...emptyRpc,
          port: js.port,
        },
      ],
      stop: () => stopAll(started),
    };
  } catch (err) {
    await stopAll(started);
    throw err;
  }
}

async function stopAll(servers: readonly ServerProcess[]): Promise<void> {
  await Promise.all(servers.map((server) => server.stop()));
}

/** `go build` of load/grpc-go-reference into .tools/bin, unless the binary is newer than its sources. */
async function buildGrpcGoReference(): Promise<string> {
  const binary = path.join(REPO_ROOT, '.tools/bin/grpc-go-reference');
  const sourceDir = path.join(REPO_ROOT, 'load/grpc-go-reference');
  if (await isUpToDate(binary, sourceDir)) return binary;
  try {
    await run('go', ['build', '-o', binary, '.'], { cwd: sourceDir, timeout: 600_000 });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`building load/grpc-go-reference failed (is Go 1.25+ on PATH?): ${reason}`);
  }
  return binary;
}

async function isUpToDate(binary: string, sourceDir: string): Promise<boolean> {
  const built = await stat(binary).catch(() => undefined);
  if (!built) return false;
  const sources = await Promise.all(
    ['main.go', 'go.mod', 'go.sum'].map((name) => stat(path.join(sourceDir, name))),
  );
  return sources.every((source) => source.mtimeMs <= built.mtimeMs);
}
