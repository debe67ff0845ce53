/** Shared by the reconciliation tests: wait for a run, count Stripe list calls. */

import type { Sandbox } from '../../sandbox/index.js';
import type { App } from '../../src/app.js';
import type { ReconciliationRunDoc } from '../../src/store/documents.js';
import { makeSubscription } from '../helpers/stripe-objects.js';
import { waitFor } from '../helpers/wait.js';

/** Waits until the run has finished (succeeded or failed). */
export async function waitForRun(
  app: App,
  projectId: string,
  runId: string,
): Promise<ReconciliationRunDoc> {
  const run = await waitFor(() => app.reconciliation.get(projectId, runId), {
    what: `run ${runId} to finish`,
    until: (current) => current?.state === 'succeeded' || current?.state === 'failed',
  });
  if (!run) throw new Error(`run ${runId} not found`);
  return run;
}

/** `GET /v1/subscriptions` (the list, not one subscription) requests made with `apiKey`. */
export function listCalls(fake: Sandbox, apiKey: string): number {
  return fake.requestLog.filter(
    (r) => r.method === 'GET' && r.path === '/v1/subscriptions' && r.apiKey === apiKey,
  ).length;
}

/**
 * `count` subscriptions of one Stripe customer of the project's, marked with
 * its id as the service marks the customers it creates (a project counts
 * only its own customers' subscriptions).
 */
export function seedProjectSubscriptions(
  fake: Sandbox,
  projectId: string,
  apiKey: string,
  count: number,
): void {
  const customer = fake.seedCustomer({ metadata: { billing_project_id: projectId } }, apiKey);
  fake.seedSubscriptions(
    Array.from({ length: count }, () => makeSubscription({ customer: customer.id })),
    apiKey,
  );
}
