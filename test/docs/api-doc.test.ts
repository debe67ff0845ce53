/** docs/api.md covers every RPC of the contract, each with an example. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { AdminService } from '../../gen/billing/v1/admin_pb.js';
import { CheckoutService } from '../../gen/billing/v1/checkout_pb.js';
import { EntitlementsService } from '../../gen/billing/v1/entitlements_pb.js';
import { MetricsService } from '../../gen/billing/v1/metrics_pb.js';
import { repoRoot } from '../helpers/process.js';

test('every RPC has a section with an example call', async (t) => {
  const doc = await readFile(path.join(repoRoot, 'docs/api.md'), 'utf8');
  for (const service of [EntitlementsService, CheckoutService, AdminService, MetricsService]) {
    t.true(doc.includes(`## ${service.name}`), service.name);
    for (const method of service.methods) {
      const start = doc.indexOf(`### ${method.name}\n`);
      t.true(start >= 0, `${method.name} has a section`);
      const section = sectionAt(doc, start);
      t.true(
        section.includes(`${service.typeName}/${method.name}`),
        `${method.name} has an example call`,
      );
    }
  }
});

/** From a heading to the next heading of any level. */
function sectionAt(doc: string, start: number): string {
  const next = doc.slice(start + 1).search(/\n#{2,3} /);
  return next === -1 ? doc.slice(start) : doc.slice(start, start + 1 + next);
}
