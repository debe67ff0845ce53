/**
 * Support's questions about the past: ExplainEntitlement (what the service
 * answered for a feature at an instant, and the entries that led there)
 * and ListCustomerTimeline (every change of a customer's set, newest
 * first). Both run the engine on the facts and the catalog of the instant
 * (src/domain/timeline.ts); what time alone changed between stored entries
 * (an expiry, a metered reset) and a catalog change are shown as entries
 * of their own, computed when read.
 */
import { catalogFromEntries } from '../domain/catalog.js';
import {
  computeEntitlements,
  type Entitlement,
  type EntitlementInputs,
  type EntitlementSet,
  entitlementFor,
} from '../domain/entitlements.js';
import { FailedPreconditionError, InvalidInputError } from '../domain/errors.js';
import {
  type CustomerFacts,
  changedFeatures,
  factsOf,
  inputsAt,
  noFacts,
  type ProjectTerms,
  type TimelineEntryKind,
  timeDrivenSteps,
} from '../domain/timeline.js';
import { isCustomerEntryId, timeOfEntryId } from '../domain/timeline-ids.js';
import type { ChainState } from '../domain/usage-allocation.js';
import type {
  CustomerTimelineDoc,
  ProjectTimelineDoc,
  TimelineStore,
} from '../store/timeline-store.js';
import type { UsageChain } from '../store/usage-ledger-store.js';
import { withMeteredStandings } from './metered-standings.js';
import type { ProjectCache } from './project-cache.js';

export interface EntitlementHistoryDeps {
  readonly timeline: Pick<
    TimelineStore,
    | 'customerAt'
    | 'customerAfter'
    | 'customerPage'
    | 'customerChangesOf'
    | 'projectAt'
    | 'projectAfter'
    | 'projectBetween'
  >;
  readonly lookup: {
    loadInputs(projectId: string, customerId: string, now: Date): Promise<EntitlementInputs>;
  };
  /** The project's terms now (ProjectCache satisfies it). */
  readonly projects: Pick<ProjectCache, 'get' | 'catalogOf'>;
  /** The usage ledger as of an instant (UsageLedgerStore satisfies it). */
  readonly ledger: { stateAt(chain: UsageChain, at: Date): Promise<ChainState> };
  readonly now: () => Date;
  /** Entries older than this are swept: the past before it cannot be explained. */
  readonly retentionMs: number;
}

/** One change of a customer's set, stored or computed when read. */
export interface TimelineView {
  /** The stored entry's id; empty for an entry computed when read. */
  readonly id: string;
  readonly at: Date;
  readonly kind: TimelineEntryKind;
  readonly actor: string;
  readonly reason: string;
  readonly stripeEventId: string;
  readonly stripeEventType: string;
  /** The grant, credit lot or reconciliation run. */
  readonly subjectId: string;
  readonly changedFeatures: readonly string[];
  readonly before: EntitlementSet | null;
  readonly after: EntitlementSet;
}

export interface Explanation {
  readonly at: Date;
  /** As CheckEntitlement answered at `at`. */
  readonly entitlement: Entitlement;
  /** The changes of the feature up to `at`, newest first. */
  readonly entries: readonly TimelineView[];
}

export interface TimelinePage {
  readonly entries: readonly TimelineView[];
  /** Empty: no older entries. */
  readonly nextPageToken: string;
}

/** Entries of a feature that ExplainEntitlement shows. */
const explainedEntries = 10;
/** Time-driven changes computed in one gap between stored entries, at most. */
const stepsPerGap = 20;

export class EntitlementHistoryService {
  constructor(private readonly deps: EntitlementHistoryDeps) {}

  async explain(
    projectId: string,
    customerId: string,
    feature: string,
    at: Date,
  ): Promise<Explanation> {
    this.requireExplainable(at);
    const facts = await this.factsAt(projectId, customerId, at);
    const terms = await this.termsAt(projectId, at);
    const inputs = inputsAt(facts.facts, terms, at);
    const totals = { state: (chain: UsageChain) => this.deps.ledger.stateAt(chain, at) };
    const set = await withMeteredStandings(
      computeEntitlements(inputs),
      inputs,
      { projectId, customerId },
      totals,
    );
    const entries = await this.entriesOf(projectId, customerId, feature, at, facts);
    return { at, entitlement: entitlementFor(set, feature), entries };
  }

  async timeline(
    projectId: string,
    customerId: string,
    pageSize: number,
    pageToken: string,
  ): Promise<TimelinePage> {
    if (pageToken !== '' && !isCustomerEntryId(projectId, customerId, pageToken))
      throw new InvalidInputError('page_token is not a token of this timeline', {
        field: 'page_token',
      });
    const stored = await this.deps.timeline.customerPage(
      projectId,
      customerId,
      pageSize,
      pageToken === '' ? undefined : pageToken,
    );
    const views: TimelineView[] = [];
    let until = pageToken === '' ? this.deps.now() : timeOfEntryId(pageToken);
    for (const entry of stored) {
      views.push(...(await this.gapViews(projectId, entry.facts_after, entry.at, until)));
      views.push(storedView(entry, await this.termsAt(projectId, entry.at)));
      until = entry.at;
    }
    const last = stored.at(-1);
    return {
      entries: views,
      nextPageToken: stored.length === pageSize && last ? last._id : '',
    };
  }

  private requireExplainable(at: Date): void {
    const now = this.deps.now();
    if (at > now) throw new InvalidInputError('at must not be in the future', { field: 'at' });
    const kept = new Date(now.getTime() - this.deps.retentionMs);
    if (at < kept)
      throw new FailedPreconditionError(
        `the timeline keeps ${Math.round(this.deps.retentionMs / 86_400_000)} days: ${at.toISOString()} is before ${kept.toISOString()}`,
      );
  }

  /**
   * The customer's facts at `at`: its newest entry's up to then, else what
   * the next entry found before it, else (no entry at all: nothing changed
   * since) the facts now.
   */
  private async factsAt(projectId: string, customerId: string, at: Date): Promise<FactsAt> {
    const latest = await this.deps.timeline.customerAt(projectId, customerId, at);
    if (latest) return { facts: latest.facts_after, since: latest.at };
    const next = await this.deps.timeline.customerAfter(projectId, customerId, at);
    if (next) return { facts: next.facts_before ?? noFacts, since: undefined };
    const current = await this.deps.lookup.loadInputs(projectId, customerId, at);
    return { facts: factsOf(current), since: undefined };
  }

  /** The project's catalog and grace period at `at`, the same way. */
  private async termsAt(projectId: string, at: Date): Promise<ProjectTerms> {
    const latest = await this.deps.timeline.projectAt(projectId, at);
    if (latest) return termsOf(latest, 'after');
    const next = await this.deps.timeline.projectAfter(projectId, at);
    if (next) return termsOf(next, 'before');
    const project = await this.deps.projects.get(projectId);
    return {
      catalog: this.deps.projects.catalogOf(project),
      gracePeriodSeconds: project?.grace_period_seconds ?? 0,
    };
  }

  private async entriesOf(
    projectId: string,
    customerId: string,
    feature: string,
    at: Date,
    facts: FactsAt,
  ): Promise<TimelineView[]> {
    const stored = await this.deps.timeline.customerChangesOf(
      projectId,
      customerId,
      feature,
      at,
      explainedEntries,
    );
    // After the newest stored entry: what the catalog and time alone changed.
    const recent =
      facts.since === undefined ? [] : await this.gapViews(projectId, facts.facts, facts.since, at);
    const storedViews = await Promise.all(
      stored.map(async (entry) => storedView(entry, await this.termsAt(projectId, entry.at))),
    );
    return [...recent.filter((view) => view.changedFeatures.includes(feature)), ...storedViews]
      .sort((a, b) => b.at.getTime() - a.at.getTime())
      .slice(0, explainedEntries);
  }

  /**
   * What changed the set after `from` up to `until` with the customer's
   * facts unchanged: catalog or grace changes, and what time alone did
   * between them. Newest first.
   */
  private async gapViews(
    projectId: string,
    facts: CustomerFacts,
    from: Date,
    until: Date,
  ): Promise<TimelineView[]> {
    const projectEntries = (
      await this.deps.timeline.projectBetween(projectId, from, until, stepsPerGap)
    ).reverse();
    let terms = await this.termsAt(projectId, from);
    let start = from;
    const views: TimelineView[] = [];
    for (const entry of [...projectEntries, undefined]) {
      const end = entry?.at ?? until;
      const segment = terms;
      const setAt = (now: Date) => computeEntitlements(inputsAt(facts, segment, now));
      for (const step of timeDrivenSteps(setAt, start, end, stepsPerGap)) {
        views.push(computedView(step.at, step.kind, step.before, step.after, step.changed));
      }
      if (entry === undefined) break;
      const after = termsOf(entry, 'after');
      const setBefore = setAt(entry.at);
      const setAfter = computeEntitlements(inputsAt(facts, after, entry.at));
      const changed = changedFeatures(setBefore, setAfter);
      if (changed.length > 0) views.push(projectView(entry, setBefore, setAfter, changed));
      terms = after;
      start = entry.at;
    }
    return views.reverse();
  }
}

interface FactsAt {
  readonly facts: CustomerFacts;
  /** The stored entry the facts come from; undefined: none up to the instant. */
  readonly since: Date | undefined;
}

function termsOf(entry: ProjectTimelineDoc, side: 'before' | 'after'): ProjectTerms {
  return side === 'before'
    ? {
        catalog: catalogFromEntries(entry.catalog_before),
        gracePeriodSeconds: entry.grace_before_seconds,
      }
    : {
        catalog: catalogFromEntries(entry.catalog_after),
        gracePeriodSeconds: entry.grace_after_seconds,
      };
}

const noCause = {
  actor: '',
  reason: '',
  stripeEventId: '',
  stripeEventType: '',
  subjectId: '',
} as const;

/** A stored entry, its sets computed from its facts and the terms of its instant. */
function storedView(entry: CustomerTimelineDoc, terms: ProjectTerms): TimelineView {
  const setOf = (facts: CustomerFacts) => computeEntitlements(inputsAt(facts, terms, entry.at));
  const { cause } = entry;
  const described =
    cause.kind === 'stripe_event'
      ? { ...noCause, stripeEventId: cause.eventId, stripeEventType: cause.eventType }
      : cause.kind === 'reconciliation'
        ? { ...noCause, subjectId: cause.runId }
        : { ...noCause, actor: cause.actor, reason: cause.reason, subjectId: cause.id };
  return {
    id: entry._id,
    at: entry.at,
    kind: cause.kind,
    ...described,
    changedFeatures: entry.changed_features,
    before: entry.facts_before === null ? null : setOf(entry.facts_before),
    after: setOf(entry.facts_after),
  };
}

function projectView(
  entry: ProjectTimelineDoc,
  before: EntitlementSet,
  after: EntitlementSet,
  changed: readonly string[],
): TimelineView {
  return {
    ...noCause,
    id: entry._id,
    at: entry.at,
    kind: entry.cause.kind,
    actor: entry.cause.actor,
    reason: entry.cause.reason,
    changedFeatures: changed,
    before,
    after,
  };
}

function computedView(
  at: Date,
  kind: 'expiry' | 'usage_reset',
  before: EntitlementSet,
  after: EntitlementSet,
  changed: readonly string[],
): TimelineView {
  return { ...noCause, id: '', at, kind, changedFeatures: changed, before, after };
}
