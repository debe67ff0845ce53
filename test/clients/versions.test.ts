/**
 * The clients are versioned with the contract: proto/VERSION is the one
 * number (its major is the proto package's, billing.v1 -> 1), and the
 * TypeScript package, the Python package and the Go module all carry it. The
 * package tests beside this file check that the built artifacts do too.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { REPO_ROOT } from '../../scripts/lib/repo-root.js';

const read = (file: string): Promise<string> => readFile(path.join(REPO_ROOT, file), 'utf8');

async function contractVersion(): Promise<string> {
  return (await read('proto/VERSION')).trim();
}

test('proto/VERSION is a semantic version whose major is the proto package version', async (t) => {
  const version = await contractVersion();
  const match = /^(\d+)\.(\d+)\.(\d+)$/.exec(version);
  t.truthy(match, `proto/VERSION is ${JSON.stringify(version)}`);
  const packages = (await readdir(path.join(REPO_ROOT, 'proto', 'billing'))).filter((name) =>
    /^v\d+$/.test(name),
  );
  t.deepEqual(packages, [`v${match?.[1]}`]);
});

test('the TypeScript package carries the contract version', async (t) => {
  const manifest: unknown = JSON.parse(await read('clients/ts/package.json'));
  const version =
    typeof manifest === 'object' && manifest !== null && 'version' in manifest
      ? manifest.version
      : undefined;
  t.is(version, await contractVersion());
});

test('the Python package carries the contract version (__version__, read by hatch)', async (t) => {
  const init = await read('clients/python/billing_client/__init__.py');
  t.is(/^__version__ = "([^"]+)"$/m.exec(init)?.[1], await contractVersion());
  const pyproject = await read('clients/python/pyproject.toml');
  t.regex(pyproject, /^dynamic = \["version"\]$/m);
  t.regex(pyproject, /^\[tool\.hatch\.version\]\npath = "billing_client\/__init__\.py"$/m);
});

test('the Go module carries the contract version (billingclient.Version)', async (t) => {
  const source = await read('clients/go/version.go');
  t.is(/^const Version = "([^"]+)"$/m.exec(source)?.[1], await contractVersion());
});
