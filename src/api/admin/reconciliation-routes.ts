/** Reconciliation handlers: trigger a run (or get the one going), read one, list them. */
import { create } from '@bufbuild/protobuf';
import {
  GetReconciliationRunResponseSchema,
  ListReconciliationRunsResponseSchema,
  type ReconciliationRun,
  ReconciliationRunSchema,
  ReconciliationState,
  TriggerReconciliationResponseSchema,
} from '../../../gen/billing/v1/admin_pb.js';
import { NotFoundError } from '../../domain/errors.js';
import type { ReconciliationRunRecord, ReconciliationRunState } from '../../domain/records.js';
import { requirePrincipal } from '../auth.js';
import { afterFromPageToken, pageToken, timestampOrUndefined } from '../convert.js';
import { pageSize, requireMatch, requireReason } from '../validate.js';
import type { AdminRoutesDeps, ReconciliationHandlers } from './admin-routes-deps.js';

const runIdPattern = /^rr_[a-z0-9]{9,40}$/;

export function reconciliationHandlers(deps: AdminRoutesDeps): ReconciliationHandlers {
  return {
    async triggerReconciliation(req, context) {
      const principal = requirePrincipal(context);
      const reason = requireReason(req.reason);
      const { run, created } = await deps.reconciliation.start({
        projectId: principal.projectId,
        dryRun: req.dryRun,
        triggeredBy: principal.keyId,
        reason,
      });
      await deps.auditLog.append({
        projectId: principal.projectId,
        actor: principal.keyId,
        action: 'reconciliation.trigger',
        target: `reconciliation_run:${run._id}`,
        before: null,
        // `started: false`: a run was already queued or running, and that one is returned.
        after: { run_id: run._id, dry_run: run.dry_run, state: run.state, started: created },
        reason,
        time: deps.now?.() ?? new Date(),
      });
      return create(TriggerReconciliationResponseSchema, { run: reconciliationRunMessage(run) });
    },

    async getReconciliationRun(req, context) {
      const principal = requirePrincipal(context);
      const runId = requireMatch('run_id', req.runId, runIdPattern, 'a run id (rr_...)');
      // Another project's run is reported exactly like a missing one.
      const run = await deps.reconciliation.get(principal.projectId, runId);
      if (!run) throw new NotFoundError(`reconciliation run ${runId}`);
      return create(GetReconciliationRunResponseSchema, { run: reconciliationRunMessage(run) });
    },

    async listReconciliationRuns(req, context) {
      const principal = requirePrincipal(context);
      const limit = pageSize(req.pageSize);
      const before = afterFromPageToken(req.pageToken, runIdPattern);
      const runs = await deps.reconciliation.list(principal.projectId, {
        limit: limit + 1,
        before,
      });
      const page = runs.slice(0, limit);
      return create(ListReconciliationRunsResponseSchema, {
        runs: page.map(reconciliationRunMessage),
        nextPageToken: runs.length > limit ? pageToken(page.at(-1)?._id) : '',
      });
    },
  };
}

const stateOf: Record<ReconciliationRunState, ReconciliationState> = {
  queued: ReconciliationState.QUEUED,
  running: ReconciliationState.RUNNING,
  succeeded: ReconciliationState.SUCCEEDED,
  failed: ReconciliationState.FAILED,
};

function reconciliationRunMessage(doc: ReconciliationRunRecord): ReconciliationRun {
  return create(ReconciliationRunSchema, {
    id: doc._id,
    dryRun: doc.dry_run,
    state: stateOf[doc.state],
    startedAt: timestampOrUndefined(doc.started_at),
    finishedAt: timestampOrUndefined(doc.finished_at),
    counts: {
      checked: BigInt(doc.counts.checked),
      missingLocally: BigInt(doc.counts.missing_locally),
      stale: BigInt(doc.counts.stale),
      missingInStripe: BigInt(doc.counts.missing_in_stripe),
      repaired: BigInt(doc.counts.repaired),
      errors: BigInt(doc.counts.errors),
    },
    triggeredBy: doc.triggered_by,
    error: doc.error ?? '',
    stripeListCalls: BigInt(doc.stripe_list_calls),
    drift: {
      missingLocally: doc.drift_samples.missing_locally,
      stale: doc.drift_samples.stale,
      missingInStripe: doc.drift_samples.missing_in_stripe,
    },
  });
}
