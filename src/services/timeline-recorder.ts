/**
 * Writes the timelines (src/domain/timeline.ts) as changes happen: called
 * by the EntitlementChangeNotifier, through which every change of a
 * customer's facts passes, before the change is made visible (cache
 * invalidation and broadcast), with the cause its caller gives.
 */
import type { EntitlementInputs, EntitlementSet } from '../domain/entitlements.js';
import {
  changedFeatures,
  factsOf,
  inputsAt,
  type ProjectTimelineCause,
  type TimelineCause,
} from '../domain/timeline.js';
import type { CatalogEntryDoc } from '../store/documents.js';
import type { TimelineStore } from '../store/timeline-store.js';

/** How the lookup computes sets (EntitlementLookupService satisfies it). */
export interface SetComputation {
  loadInputs(projectId: string, customerId: string, now: Date): Promise<EntitlementInputs>;
  computeFrom(
    inputs: EntitlementInputs,
    projectId: string,
    customerId: string,
  ): Promise<EntitlementSet>;
}

/** A change of the project's terms, as ProjectService saw it. */
export interface ProjectTermsChange {
  readonly actor: string;
  readonly reason: string;
  readonly before: { readonly catalog: CatalogEntryDoc[]; readonly gracePeriodSeconds: number };
  readonly after: { readonly catalog: CatalogEntryDoc[]; readonly gracePeriodSeconds: number };
}

export class TimelineRecorder {
  constructor(
    private readonly store: Pick<TimelineStore, 'appendCustomer' | 'appendProject' | 'customerAt'>,
    private readonly sets: SetComputation,
    private readonly now: () => Date,
  ) {}

  /** One entry: the customer's facts now, and before (its previous entry's). */
  async customerChanged(
    projectId: string,
    customerId: string,
    cause: TimelineCause,
  ): Promise<void> {
    const at = this.now();
    const [inputs, previous] = await Promise.all([
      this.sets.loadInputs(projectId, customerId, at),
      this.store.customerAt(projectId, customerId, at),
    ]);
    const factsBefore = previous?.facts_after ?? null;
    const [setBefore, setAfter] = await Promise.all([
      factsBefore === null
        ? null
        : this.sets.computeFrom(inputsAt(factsBefore, inputs, at), projectId, customerId),
      this.sets.computeFrom(inputs, projectId, customerId),
    ]);
    await this.store.appendCustomer({
      project_id: projectId,
      customer_id: customerId,
      at,
      cause,
      facts_before: factsBefore,
      facts_after: factsOf(inputs),
      set_before: setBefore,
      set_after: setAfter,
      changed_features: changedFeatures(setBefore, setAfter),
    });
  }

  /** One entry when the catalog or the grace period changed (nothing else of a project counts). */
  async projectChanged(projectId: string, change: ProjectTermsChange): Promise<void> {
    const cause = causeOf(change);
    if (cause === undefined) return;
    await this.store.appendProject({
      project_id: projectId,
      at: this.now(),
      cause,
      catalog_before: change.before.catalog,
      catalog_after: change.after.catalog,
      grace_before_seconds: change.before.gracePeriodSeconds,
      grace_after_seconds: change.after.gracePeriodSeconds,
    });
  }
}

function causeOf(change: ProjectTermsChange): ProjectTimelineCause | undefined {
  const { actor, reason } = change;
  if (JSON.stringify(change.before.catalog) !== JSON.stringify(change.after.catalog))
    return { kind: 'catalog', actor, reason };
  if (change.before.gracePeriodSeconds !== change.after.gracePeriodSeconds)
    return { kind: 'grace_period', actor, reason };
  return undefined;
}
