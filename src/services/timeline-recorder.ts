/**
 * Writes the timelines (src/domain/timeline.ts) as changes happen: called
 * by the EntitlementChangeNotifier, through which every change of a
 * customer's facts passes, with the cause its caller gives. The entry keeps
 * facts only (the sets before and after are computed when read, by the pure
 * engine), and a change that left the facts as the previous entry has them
 * (a Stripe event that repeats what is stored) writes nothing: it changed no
 * answer. Each change costs one read of the facts, one `_id` read of the
 * customer's newest entry (its head) and, unless nothing changed, an insert
 * and an `_id` update of the head.
 */
import {
  computeEntitlements,
  type EntitlementInputs,
  type EntitlementSet,
} from '../domain/entitlements.js';
import {
  type CustomerFacts,
  changedFeatures,
  factsOf,
  inputsAt,
  type ProjectTimelineCause,
  type TimelineCause,
} from '../domain/timeline.js';
import type { CatalogEntryDoc } from '../store/documents.js';
import type { TimelineStore } from '../store/timeline-store.js';

/** Where the engine's inputs come from (EntitlementLookupService satisfies it). */
export interface FactsSource {
  loadInputs(projectId: string, customerId: string, now: Date): Promise<EntitlementInputs>;
}

/** A change of the project's terms, as ProjectService saw it. */
export interface ProjectTermsChange {
  readonly actor: string;
  readonly reason: string;
  readonly before: { readonly catalog: CatalogEntryDoc[]; readonly gracePeriodSeconds: number };
  readonly after: { readonly catalog: CatalogEntryDoc[]; readonly gracePeriodSeconds: number };
}

/** What one recorded entry says (outbound events are made from it). */
export interface RecordedChange {
  readonly factsBefore: CustomerFacts | null;
  readonly factsAfter: CustomerFacts;
  readonly setAfter: EntitlementSet;
  readonly changedFeatures: readonly string[];
}

export class TimelineRecorder {
  constructor(
    private readonly store: Pick<
      TimelineStore,
      'appendCustomer' | 'appendProject' | 'customerHead'
    >,
    private readonly facts: FactsSource,
    private readonly now: () => Date,
  ) {}

  /**
   * One entry: the customer's facts now, and before (its newest entry's, the
   * head). Undefined when the facts did not change (nothing recorded).
   */
  async customerChanged(
    projectId: string,
    customerId: string,
    cause: TimelineCause,
  ): Promise<RecordedChange | undefined> {
    const at = this.now();
    const [inputs, head] = await Promise.all([
      this.facts.loadInputs(projectId, customerId, at),
      this.store.customerHead(projectId, customerId),
    ]);
    const factsBefore = head?.facts ?? null;
    const factsAfter = factsOf(inputs);
    if (factsBefore !== null && JSON.stringify(factsBefore) === JSON.stringify(factsAfter)) {
      return undefined;
    }
    const setBefore =
      factsBefore === null ? null : computeEntitlements(inputsAt(factsBefore, inputs, at));
    const setAfter = computeEntitlements(inputs);
    const changed = changedFeatures(setBefore, setAfter);
    await this.store.appendCustomer({
      project_id: projectId,
      customer_id: customerId,
      at,
      cause,
      facts_before: factsBefore,
      facts_after: factsAfter,
      changed_features: changed,
    });
    return { factsBefore, factsAfter, setAfter, changedFeatures: changed };
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
