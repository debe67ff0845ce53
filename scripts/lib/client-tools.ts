/**
 * Everything that generating and testing the clients in clients/ needs beyond
 * npm packages: the Go plugins (pinned in GO_TOOLS, installed into
 * .tools/bin), the Python tools (pinned in clients/python/requirements-dev.txt,
 * installed into .tools/venv) and the Go client's module dependencies (pinned
 * by clients/go/go.sum, downloaded into the Go module cache). Idempotent; a
 * second call costs about a second. The Go and Python halves are apart so that
 * a test file that needs one (`// needs: go`) does not wait for the other.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { ensureGoTool, REPO_ROOT } from './local-services.js';
import { ensurePythonVenv } from './python-venv.js';

const execFileAsync = promisify(execFile);

export const GO_CLIENT_DIR: string = path.join(REPO_ROOT, 'clients', 'go');

export interface GoClientTools {
  readonly protocGenGo: string;
  readonly protocGenConnectGo: string;
}

export interface ClientTools extends GoClientTools {
  /** `.tools/venv/bin`: python, pytest, mypy, protoc-gen-mypy, ... */
  readonly venvBin: string;
}

/** The Go plugins and the Go client's module dependencies. */
export async function ensureGoClientTools(): Promise<GoClientTools> {
  const [protocGenGo, protocGenConnectGo] = await Promise.all([
    ensureGoTool('protoc-gen-go'),
    ensureGoTool('protoc-gen-connect-go'),
    execFileAsync('go', ['mod', 'download'], { cwd: GO_CLIENT_DIR }).catch((error: unknown) => {
      throw new Error(
        `go mod download in ${GO_CLIENT_DIR} failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    }),
  ]);
  return { protocGenGo, protocGenConnectGo };
}

/** `.tools/venv/bin` with the Python client's tools. */
export function ensurePythonClientTools(): Promise<string> {
  return ensurePythonVenv();
}

export async function ensureClientTools(): Promise<ClientTools> {
  const [goTools, venvBin] = await Promise.all([ensureGoClientTools(), ensurePythonClientTools()]);
  return { ...goTools, venvBin };
}
