/**
 * `npm run pack:clients`: the three clients as the packages a product
 * depends on, into dist/clients/: the npm tarball, the Python sdist and
 * wheel, and the Go module release in a folder laid out as a Go module proxy
 * (goproxy/). Every one carries the contract's version (proto/VERSION). The
 * client READMEs say how to install each.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import {
  buildPythonClient,
  contractVersion,
  packTypeScriptClient,
  publishGoClient,
} from './lib/client-packages.js';
import { REPO_ROOT } from './lib/repo-root.js';

const out = path.join(REPO_ROOT, 'dist', 'clients');
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
const version = await contractVersion();
const tarball = await packTypeScriptClient(out);
const wheel = await buildPythonClient(out);
const go = await publishGoClient(path.join(out, 'goproxy'));
const shown = (file: string) => path.relative(process.cwd(), file);
process.stdout.write(
  [
    `contract ${version}:`,
    `  TypeScript  ${shown(tarball)}`,
    `  Python      ${shown(wheel)} (and the sdist beside it)`,
    `  Go          ${go.modulePath}@${go.version} in ${shown(path.join(out, 'goproxy'))}`,
    '',
  ].join('\n'),
);
