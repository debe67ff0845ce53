/**
 * In-memory fakes of the ports src/api/ declares: the key lookups, the
 * revocation bus, the idempotency records, the audit log and the slices of
 * each service the handlers call. No MongoDB, Redis or Stripe: the RPC tests
 * in test/api/ run the real handlers and interceptors on top of these.
 */
import { randomBytes } from 'node:crypto';
import type {
  ApiKeyAdmin,
  AuditLog,
  CreditAdmin,
  CustomerDirectory,
  GrantAdmin,
  ProjectAdmin,
  ReconciliationAdmin,
  WebhookEndpointAdmin,
  WebhookEventAdmin,
} from '../../src/api/admin/admin-routes-deps.js';
import type { ApiKeyLookup } from '../../src/api/auth.js';
import type { CheckoutSessions } from '../../src/api/checkout-routes.js';
import type { EntitlementHistory } from '../../src/api/entitlement-history-handlers.js';
import type {
  EntitlementLookup,
  EntitlementWatch,
  ProjectChangeWatch,
  UsageTracker,
} from '../../src/api/entitlements-routes.js';
import type { IdempotencyRecords } from '../../src/api/idempotency.js';
import type { DailyMetricsReader, ProjectMetricsReader } from '../../src/api/metrics-routes.js';
import type { BusMessage, IssuerKeys, KeyRevocations } from '../../src/api/token-issuers.js';
import {
  formatApiKey,
  hashApiKey,
  newApiKeyParts,
  type ScopeName,
} from '../../src/domain/api-keys.js';
import type { CreditLotView } from '../../src/domain/credits.js';
import { type DailyMetrics, daysFrom } from '../../src/domain/daily-metrics.js';
import type { Entitlement, EntitlementSet } from '../../src/domain/entitlements.js';
import { FailedPreconditionError, NotFoundError } from '../../src/domain/errors.js';
import type { ClaimResult, IdempotencyScope } from '../../src/domain/idempotency.js';
import type { MetricsWindow, ProjectMetrics } from '../../src/domain/mrr.js';
import type {
  ApiKeyRecord,
  AuditEntryRecord,
  AuditQuery,
  AuditRecord,
  CustomerLinkRecord,
  EventReceiptRecord,
  GrantRecord,
  ProjectRecord,
  ReconciliationRunRecord,
  WebhookEndpointRecord,
} from '../../src/domain/records.js';
import type { Explanation, TimelinePage } from '../../src/services/entitlement-history.js';
import type { WatchUpdate } from '../../src/services/entitlement-watch-hub.js';
import type { ProjectFeedUpdate } from '../../src/services/project-change-feed.js';
import type {
  CommitReservationInput,
  ReservationRef,
  ReservedUsage,
  ReserveUsageInput,
  TrackedUsage,
  TrackUsageInput,
} from '../../src/services/usage-service.js';

/** The fixed clock of every fake: records are stamped with it. */
export const fakeNow = new Date('2026-06-01T12:00:00.000Z');

type Args<F> = F extends (...args: infer A) => unknown ? A : never;

export class FakeBus implements KeyRevocations {
  private readonly handlers = new Set<(message: BusMessage) => void>();

  onMessage(handler: (message: BusMessage) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  publish(message: BusMessage): void {
    for (const handler of this.handlers) handler(message);
  }
}

/** API keys: what the authenticator looks up and what the admin RPCs create, list and revoke. */
export class FakeApiKeys implements ApiKeyLookup, IssuerKeys, ApiKeyAdmin {
  readonly records = new Map<string, ApiKeyRecord>();

  constructor(private readonly bus: FakeBus) {}

  /** A live key of the project with these scopes: its bearer secret. */
  add(projectId: string, scopes: readonly ScopeName[]): string {
    return this.insert(projectId, 'test key', scopes, 'test').secret;
  }

  async findById(keyId: string): Promise<ApiKeyRecord | null> {
    return this.records.get(keyId) ?? null;
  }

  async get(projectId: string, keyId: string): Promise<ApiKeyRecord | null> {
    const record = this.records.get(keyId);
    return record?.project_id === projectId ? record : null;
  }

  async create(...[input]: Args<ApiKeyAdmin['create']>) {
    return this.insert(input.projectId, input.name, input.scopes, input.actor);
  }

  async list(projectId: string, includeRevoked: boolean): Promise<ApiKeyRecord[]> {
    return [...this.records.values()].filter(
      (key) => key.project_id === projectId && (includeRevoked || key.revoked_at === null),
    );
  }

  async revoke(projectId: string, keyId: string, actor: string): Promise<ApiKeyRecord> {
    const before = await this.get(projectId, keyId);
    // As the services do: a missing target is a named error the mapper turns into NOT_FOUND.
    if (!before) throw new NotFoundError(`api key ${keyId}`);
    const after = { ...before, revoked_at: fakeNow, revoked_by: actor };
    this.records.set(keyId, after);
    // As ApiKeyService does: every replica forgets the key at once.
    this.bus.publish({ kind: 'api_key', secretHash: before.secret_hash });
    return after;
  }

  private insert(projectId: string, name: string, scopes: readonly ScopeName[], actor: string) {
    const { keyId, secret } = newApiKeyParts(randomBytes);
    const apiKey = formatApiKey(keyId, secret);
    const key: ApiKeyRecord = {
      _id: keyId,
      project_id: projectId,
      name,
      secret_hash: hashApiKey(apiKey),
      scopes: [...scopes],
      created_at: fakeNow,
      created_by: actor,
      revoked_at: null,
      revoked_by: null,
    };
    this.records.set(keyId, key);
    return { key, secret: apiKey };
  }
}

/** First answers by scope; a claim that was never completed is in progress. */
export class FakeIdempotencyRecords implements IdempotencyRecords {
  private readonly records = new Map<string, { hash: string; response?: Uint8Array }>();

  async claim(scope: IdempotencyScope, requestHash: string): Promise<ClaimResult> {
    const id = `${scope.projectId}/${scope.method}/${scope.key}`;
    const existing = this.records.get(id);
    if (!existing) {
      this.records.set(id, { hash: requestHash });
      return { kind: 'claimed' };
    }
    if (existing.hash !== requestHash) return { kind: 'mismatch' };
    return existing.response
      ? { kind: 'replay', response: existing.response }
      : { kind: 'in_progress' };
  }

  async complete(scope: IdempotencyScope, response: Uint8Array): Promise<void> {
    const record = this.records.get(`${scope.projectId}/${scope.method}/${scope.key}`);
    if (record) record.response = response;
  }

  async release(scope: IdempotencyScope): Promise<void> {
    this.records.delete(`${scope.projectId}/${scope.method}/${scope.key}`);
  }
}

/**
 * TrackUsage's and the reservations' service: metered features with their
 * allowance per customer (no periods); accepted tracks are in `tracked`,
 * reservations in `reservations`.
 */
export class FakeUsage implements UsageTracker {
  readonly tracked: TrackUsageInput[] = [];
  readonly reservations = new Map<string, FakeReservation>();
  readonly allowances = new Map<string, number>();
  readonly notMetered = new Set<string>();
  readonly resetsAt = new Date('2030-01-01T00:00:00Z');

  async track(input: TrackUsageInput): Promise<TrackedUsage> {
    const allowance = this.allowanceOf(input.feature);
    const balance = this.balanceOf(input, allowance);
    if (input.enforce && input.amount > balance) {
      throw new FailedPreconditionError(`the balance of ${input.feature} is ${balance}`);
    }
    this.tracked.push(input);
    return {
      usageId: `usg_${this.tracked.length}`,
      entitlement: this.standing(input, allowance),
    };
  }

  async reserve(input: ReserveUsageInput): Promise<ReservedUsage> {
    const allowance = this.allowanceOf(input.feature);
    const balance = this.balanceOf(input, allowance);
    if (input.amount > balance) {
      throw new FailedPreconditionError(`the balance of ${input.feature} is ${balance}`);
    }
    const reservationId = `rsv_${String(this.reservations.size + 1).padStart(32, '0')}`;
    const expiresAt = new Date(Date.parse('2029-01-01T00:00:00Z') + input.ttlMs);
    this.reservations.set(reservationId, { ...input, reservationId, state: 'held', final: 0 });
    return { reservationId, expiresAt, entitlement: this.standing(input, allowance) };
  }

  async commit(input: CommitReservationInput): Promise<TrackedUsage> {
    const held = this.held(input);
    const final = input.finalAmount ?? held.amount;
    if (held.state !== 'held' && !(held.state === 'committed' && held.final === final)) {
      throw new FailedPreconditionError(`reservation ${held.reservationId} is not held`);
    }
    this.reservations.set(held.reservationId, { ...held, state: 'committed', final });
    return {
      usageId: final > 0 ? `usg_${held.reservationId}` : '',
      entitlement: this.standing(held, this.allowanceOf(held.feature)),
    };
  }

  async release(input: ReservationRef): Promise<Entitlement> {
    const held = this.held(input);
    if (held.state === 'committed') {
      throw new FailedPreconditionError(`reservation ${held.reservationId} was committed`);
    }
    this.reservations.set(held.reservationId, { ...held, state: 'released' });
    return this.standing(held, this.allowanceOf(held.feature));
  }

  private held(ref: ReservationRef): FakeReservation {
    const held = this.reservations.get(ref.reservationId);
    if (!held || held.projectId !== ref.projectId || held.customerId !== ref.customerId) {
      throw new NotFoundError(`reservation ${ref.reservationId}`);
    }
    return held;
  }

  private allowanceOf(feature: string): number {
    if (this.notMetered.has(feature)) {
      throw new FailedPreconditionError(`feature ${feature} is not metered in the catalog`);
    }
    const allowance = this.allowances.get(feature);
    if (allowance === undefined) throw new NotFoundError(`feature ${feature}`);
    return allowance;
  }

  private usageOf(who: FakeUsageKey): number {
    const tracked = this.tracked
      .filter((t) => t.customerId === who.customerId && t.feature === who.feature)
      .reduce((sum, t) => sum + t.amount, 0);
    return tracked + this.sumOf(who, 'committed', (r) => r.final);
  }

  private sumOf(
    who: FakeUsageKey,
    state: FakeReservation['state'],
    amount: (r: FakeReservation) => number,
  ): number {
    return [...this.reservations.values()]
      .filter((r) => r.customerId === who.customerId && r.feature === who.feature)
      .filter((r) => r.state === state)
      .reduce((sum, r) => sum + amount(r), 0);
  }

  private balanceOf(who: FakeUsageKey, allowance: number): number {
    const reserved = this.sumOf(who, 'held', (r) => r.amount);
    return Math.max(0, allowance - this.usageOf(who) - reserved);
  }

  private standing(who: FakeUsageKey, allowance: number): Entitlement {
    return {
      feature: who.feature,
      allowed: true,
      limit: null,
      sources: [],
      validUntil: this.resetsAt,
      metered: {
        usage: this.usageOf(who),
        balance: this.balanceOf(who, allowance),
        reserved: this.sumOf(who, 'held', (r) => r.amount),
        credits: 0,
        resetsAt: this.resetsAt,
        overage: 'block',
      },
    };
  }
}

interface FakeUsageKey {
  readonly customerId: string;
  readonly feature: string;
}

export interface FakeReservation extends ReserveUsageInput {
  readonly reservationId: string;
  readonly state: 'held' | 'committed' | 'released';
  readonly final: number;
}

/** Entitlement sets by project and customer; watchers are woken by `change`. */
export class FakeEntitlements implements EntitlementLookup, EntitlementWatch {
  private readonly sets = new Map<string, EntitlementSet>();
  private readonly watchers = new Set<(projectId: string, customerId: string) => void>();

  async list(projectId: string, customerId: string): Promise<EntitlementSet> {
    return this.sets.get(`${projectId}/${customerId}`) ?? { entitlements: [], validUntil: null };
  }

  /** The customer's set changes: open streams of that customer get a `change`. */
  change(projectId: string, customerId: string, set: EntitlementSet): void {
    this.sets.set(`${projectId}/${customerId}`, set);
    for (const wake of this.watchers) wake(projectId, customerId);
  }

  async *watch(projectId: string, customerId: string, signal: AbortSignal) {
    let pending = latch();
    const wake = (project: string, customer: string) => {
      if (project === projectId && customer === customerId) pending.open();
    };
    const abort = () => pending.open();
    this.watchers.add(wake);
    signal.addEventListener('abort', abort);
    try {
      const snapshot: WatchUpdate = {
        kind: 'snapshot',
        set: await this.list(projectId, customerId),
      };
      yield snapshot;
      while (!signal.aborted) {
        await pending.promise;
        pending = latch();
        if (signal.aborted) return;
        const change: WatchUpdate = { kind: 'change', set: await this.list(projectId, customerId) };
        yield change;
      }
    } finally {
      this.watchers.delete(wake);
      signal.removeEventListener('abort', abort);
    }
  }
}

/** A change feed that answers READY at the position asked (or '5-0' from now) and then waits. */
export class FakeChangeFeed implements ProjectChangeWatch {
  readonly calls: { projectId: string; resumeAfter: string }[] = [];

  async *watch(projectId: string, resumeAfter: string, signal: AbortSignal) {
    this.calls.push({ projectId, resumeAfter });
    const ready: ProjectFeedUpdate = { kind: 'ready', position: resumeAfter || '5-0' };
    yield ready;
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  }
}

/** Answers a grant's entry for any explain or page, and records what it was asked. */
export class FakeHistory implements EntitlementHistory {
  readonly calls: {
    projectId: string;
    customerId: string;
    feature?: string;
    at?: Date;
    before?: string;
  }[] = [];

  async explain(
    projectId: string,
    customerId: string,
    feature: string,
    at: Date,
  ): Promise<Explanation> {
    this.calls.push({ projectId, customerId, feature, at });
    return { at, entitlement: fakeEntitlement(feature), entries: [this.entry(feature, at)] };
  }

  async timeline(
    projectId: string,
    customerId: string,
    _pageSize: number,
    before: string,
  ): Promise<TimelinePage> {
    this.calls.push({ projectId, customerId, before });
    return { entries: [this.entry('pro', new Date('2026-12-01T10:00:00Z'))], nextPageToken: '' };
  }

  private entry(feature: string, at: Date) {
    return {
      id: 'e1',
      at,
      kind: 'grant' as const,
      actor: 'key:k1',
      reason: 'ticket 7',
      stripeEventId: '',
      stripeEventType: '',
      subjectId: 'gr_1',
      changedFeatures: [feature],
      before: null,
      after: { entitlements: [fakeEntitlement(feature)], validUntil: null },
    };
  }
}

function fakeEntitlement(feature: string): Entitlement {
  return { feature, allowed: true, limit: null, sources: [], validUntil: null };
}

/** A promise and the function that resolves it. */
function latch(): { promise: Promise<void>; open: () => void } {
  let open = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Checkout and portal sessions, counted, with the inputs they were given. */
export class FakeCheckout implements CheckoutSessions {
  readonly checkouts: Args<CheckoutSessions['createCheckoutSession']>[0][] = [];
  readonly portals: string[] = [];

  async createCheckoutSession(...[input]: Args<CheckoutSessions['createCheckoutSession']>) {
    this.checkouts.push(input);
    const sessionId = `cs_test_${this.checkouts.length}`;
    return {
      sessionId,
      url: `https://checkout.stripe.com/c/pay/${sessionId}`,
      stripeCustomerId: `cus_${input.customerId}`,
      expiresAt: new Date(fakeNow.getTime() + 24 * 3600_000),
    };
  }

  async createPortalSession(_projectId: string, customerId: string, returnUrl: string) {
    this.portals.push(returnUrl);
    const sessionId = `bps_${customerId}`;
    return { sessionId, url: `https://billing.stripe.com/p/session/${sessionId}` };
  }
}

export class FakeProjectMetrics implements ProjectMetricsReader {
  readonly windows: MetricsWindow[] = [];
  figures: ProjectMetrics = {
    subscriptionsByStatus: [{ status: 'active', count: 3 }],
    activeSubscriptions: 3,
    activeCustomers: 2,
    mrr: [{ currency: 'eur', amountMinor: 4500n }],
    unpricedItems: 0,
    newSubscriptions: 1,
    churnedSubscriptions: 0,
  };

  async projectMetrics(_projectId: string, window: MetricsWindow): Promise<ProjectMetrics> {
    this.windows.push(window);
    return this.figures;
  }
}

export class FakeDailyMetrics implements DailyMetricsReader {
  readonly calls: { projectId: string; first: string; last: string }[] = [];

  async dailyMetrics(projectId: string, first: string, last: string): Promise<DailyMetrics[]> {
    this.calls.push({ projectId, first, last });
    return daysFrom(first, last).map((day, index) => ({
      day,
      snapshot:
        index === 0
          ? {
              takenAt: new Date(`${day}T23:50:00Z`),
              subscriptionsByStatus: [{ status: 'active', count: 2 }],
              activeCustomers: 2,
              mrr: [{ currency: 'usd', amountMinor: 2000n }],
            }
          : undefined,
      newSubscriptions: index,
      churnedSubscriptions: 0,
    }));
  }
}

/** Customer links by project. */
export class FakeCustomers implements CustomerDirectory {
  readonly links: (CustomerLinkRecord & { project_id: string })[] = [];

  async find(projectId: string, query: string): Promise<CustomerLinkRecord[]> {
    return this.links
      .filter((link) => link.project_id === projectId)
      .filter((link) => link.customer_id === query || link.stripe_customer_id === query)
      .map(({ customer_id, stripe_customer_id, created_at }) => ({
        customer_id,
        stripe_customer_id,
        created_at,
      }));
  }
}

export class FakeProjects implements ProjectAdmin {
  readonly records = new Map<string, ProjectRecord>();

  constructor(private readonly keys: FakeApiKeys) {}

  /** A project with its records; returns its id. */
  add(id: string, name = 'Acme'): string {
    this.records.set(id, {
      _id: id,
      name,
      stripe_secret_key: null,
      webhook_signing_secret: null,
      grace_period_seconds: 3 * 24 * 3600,
      catalog: [],
      created_at: fakeNow,
      updated_at: fakeNow,
    });
    return id;
  }

  async create(...[input]: Args<ProjectAdmin['create']>) {
    const id = this.add(`p_${this.records.size + 1}`, input.name);
    const project = await this.changed(id, {
      stripe_secret_key: input.stripeSecretKey,
      webhook_signing_secret: input.webhookSigningSecret,
      grace_period_seconds: input.gracePeriodSeconds,
    });
    const adminKey = await this.keys.create({
      projectId: id,
      name: 'first admin key',
      scopes: ['entitlements:read', 'checkout:write', 'usage:write', 'admin'],
      actor: input.actor,
      reason: input.reason,
    });
    return { project, adminKey };
  }

  async get(projectId: string): Promise<ProjectRecord | null> {
    return this.records.get(projectId) ?? null;
  }

  async update(...[projectId, changes]: Args<ProjectAdmin['update']>) {
    if (!this.records.has(projectId)) throw new NotFoundError('project');
    return this.changed(projectId, {
      ...(changes.name === undefined ? {} : { name: changes.name }),
      ...(changes.gracePeriodSeconds === undefined
        ? {}
        : { grace_period_seconds: changes.gracePeriodSeconds }),
      ...(changes.stripeSecretKey === undefined
        ? {}
        : { stripe_secret_key: changes.stripeSecretKey }),
      ...(changes.webhookSigningSecret === undefined
        ? {}
        : { webhook_signing_secret: changes.webhookSigningSecret }),
    });
  }

  async setCatalog(...[projectId, catalog]: Args<ProjectAdmin['setCatalog']>) {
    return this.changed(projectId, { catalog });
  }

  private async changed(id: string, changes: Partial<ProjectRecord>): Promise<ProjectRecord> {
    const before = this.records.get(id);
    if (!before) throw new Error(`fake: no project ${id}`);
    const after = { ...before, ...changes, updated_at: fakeNow };
    this.records.set(id, after);
    return after;
  }
}

export class FakeGrants implements GrantAdmin {
  readonly records = new Map<string, GrantRecord>();

  async grant(...[input]: Args<GrantAdmin['grant']>): Promise<GrantRecord> {
    const id = `gr_${String(this.records.size + 1).padStart(12, '0')}`;
    const { projectId, customerId, expiresAt, ...given } = input;
    const revoked = { revoked_at: null, revoked_by: null, revoke_reason: null };
    const grant: GrantRecord = {
      _id: id,
      ...{ project_id: projectId, customer_id: customerId, expires_at: expiresAt },
      ...given,
      ...revoked,
      created_at: fakeNow,
    };
    this.records.set(id, grant);
    return grant;
  }

  async revoke(projectId: string, grantId: string, actor: string, reason: string) {
    const before = this.records.get(grantId);
    if (before?.project_id !== projectId) throw new NotFoundError(`grant ${grantId}`);
    const after = { ...before, revoked_at: fakeNow, revoked_by: actor, revoke_reason: reason };
    this.records.set(grantId, after);
    return after;
  }

  async list(...[projectId, query]: Args<GrantAdmin['list']>): Promise<GrantRecord[]> {
    return [...this.records.values()]
      .filter((grant) => grant.project_id === projectId)
      .filter((grant) => query.customerId === undefined || grant.customer_id === query.customerId)
      .filter((grant) => query.activeAt === undefined || grant.revoked_at === null)
      .filter((grant) => query.after === undefined || grant._id > query.after)
      .slice(0, query.limit);
  }
}

/**
 * Credit lots by id: grants made here, packs seeded with `addPack`; metered
 * features are those in `metered` (others are not metered, unknown ones
 * NOT_FOUND), as CreditService decides.
 */
export class FakeCredits implements CreditAdmin {
  readonly lots = new Map<string, CreditLotView & { projectId: string }>();
  readonly metered = new Set<string>(['api_calls']);
  readonly notMetered = new Set<string>(['sso']);

  async grant(...[input]: Args<CreditAdmin['grant']>): Promise<CreditLotView> {
    if (this.notMetered.has(input.feature))
      throw new FailedPreconditionError(`feature ${input.feature} is not metered`);
    if (!this.metered.has(input.feature)) throw new NotFoundError(`feature ${input.feature}`);
    const id = `crd_${String(this.lots.size + 1).padStart(12, '0')}`;
    const lot = {
      id,
      feature: input.feature,
      source: 'grant' as const,
      amount: input.amount,
      createdAt: fakeNow,
      expiresAt: input.expiresAt,
      endedAt: null,
    };
    const view = { lot, customerId: input.customerId, remaining: input.amount };
    const made = {
      ...view,
      reason: input.reason,
      actor: input.actor,
      revokedBy: '',
      revokeReason: '',
    };
    this.lots.set(id, { ...made, projectId: input.projectId });
    return made;
  }

  /** A bought pack lot of `customerId`. */
  addPack(projectId: string, customerId: string, id: string, amount: number): void {
    const lot = { id, feature: 'api_calls', source: 'pack' as const, amount, createdAt: fakeNow };
    this.lots.set(id, {
      ...{ lot: { ...lot, expiresAt: null, endedAt: null }, customerId, remaining: amount },
      ...{ reason: '', actor: '', revokedBy: '', revokeReason: '', projectId },
    });
  }

  async revoke(projectId: string, creditId: string, actor: string, reason: string) {
    const before = this.lots.get(creditId);
    if (before?.projectId !== projectId) throw new NotFoundError(`credit ${creditId}`);
    if (before.lot.source === 'pack')
      throw new FailedPreconditionError('refund the purchase instead');
    if (before.lot.endedAt !== null) return before;
    const lot = { ...before.lot, endedAt: fakeNow };
    const after = { ...before, lot, remaining: 0, revokedBy: actor, revokeReason: reason };
    this.lots.set(creditId, after);
    return after;
  }

  async list(...[projectId, query]: Args<CreditAdmin['list']>): Promise<CreditLotView[]> {
    return [...this.lots.values()]
      .filter((view) => view.projectId === projectId && view.customerId === query.customerId)
      .filter((view) => query.feature === undefined || view.lot.feature === query.feature)
      .filter((view) => query.includeEnded || view.remaining > 0)
      .filter((view) => query.after === undefined || view.lot.id > query.after)
      .sort((a, b) => (a.lot.id < b.lot.id ? -1 : 1))
      .slice(0, query.limit);
  }
}

export class FakeAuditLog implements AuditLog {
  readonly entries: AuditEntryRecord[] = [];

  async append(record: AuditRecord): Promise<AuditEntryRecord> {
    const { projectId, ...fields } = record;
    const id = `00000000-0000-4000-8000-${String(this.entries.length + 1).padStart(12, '0')}`;
    const entry: AuditEntryRecord = { _id: id, project_id: projectId, ...fields };
    this.entries.push(entry);
    return entry;
  }

  async list(projectId: string, query: AuditQuery): Promise<AuditEntryRecord[]> {
    return this.entries
      .filter((entry) => entry.project_id === projectId)
      .filter((entry) => query.action === undefined || entry.action === query.action)
      .reverse()
      .slice(0, query.limit);
  }
}

export class FakeReconciliation implements ReconciliationAdmin {
  readonly runs: ReconciliationRunRecord[] = [];

  async start(...[request]: Args<ReconciliationAdmin['start']>) {
    const run: ReconciliationRunRecord = {
      _id: `rr_${String(this.runs.length + 1).padStart(12, '0')}`,
      project_id: request.projectId,
      dry_run: request.dryRun,
      state: 'queued',
      triggered_by: request.triggeredBy,
      reason: request.reason,
      created_at: fakeNow,
      started_at: null,
      finished_at: null,
      counts: {
        checked: 0,
        missing_locally: 0,
        stale: 0,
        missing_in_stripe: 0,
        repaired: 0,
        errors: 0,
      },
      stripe_list_calls: 0,
      drift_samples: { missing_locally: [], stale: [], missing_in_stripe: [] },
      error: null,
      attempts: 0,
    };
    this.runs.push(run);
    return { run, created: true };
  }

  async get(projectId: string, runId: string): Promise<ReconciliationRunRecord | null> {
    return this.runs.find((run) => run.project_id === projectId && run._id === runId) ?? null;
  }

  async list(...[projectId, query]: Args<ReconciliationAdmin['list']>) {
    return this.runs
      .filter((run) => run.project_id === projectId)
      .reverse()
      .filter((run) => query.before === undefined || run._id < query.before)
      .slice(0, query.limit);
  }
}

export class FakeWebhookEvents implements WebhookEventAdmin {
  readonly receipts: EventReceiptRecord[] = [];

  /** A receipt Stripe's delivery left, dead (replayable) unless told otherwise. */
  add(projectId: string, eventId: string, status: EventReceiptRecord['status'] = 'dead'): void {
    this.receipts.push({
      _id: `${projectId}:${eventId}`,
      project_id: projectId,
      event_id: eventId,
      type: 'customer.subscription.updated',
      status,
      attempts: 5,
      last_error: status === 'dead' ? 'customer lookup failed' : null,
      received_at: fakeNow,
      processed_at: null,
      lease_until: fakeNow,
      event_json: '{}',
    });
  }

  async list(...[projectId, query]: Args<WebhookEventAdmin['list']>) {
    return this.receipts
      .filter((receipt) => receipt.project_id === projectId)
      .filter((receipt) => query.status === undefined || receipt.status === query.status)
      .slice(0, query.limit);
  }

  async replay(...[input]: Args<WebhookEventAdmin['replay']>): Promise<EventReceiptRecord> {
    const index = this.receipts.findIndex(
      (receipt) => receipt.project_id === input.projectId && receipt.event_id === input.eventId,
    );
    const before = this.receipts[index];
    if (!before) throw new Error(`fake: no receipt ${input.eventId}`);
    const after: EventReceiptRecord = { ...before, status: 'processed', processed_at: fakeNow };
    this.receipts[index] = after;
    return after;
  }
}

/** Endpoints in memory, per project; no deliveries (the real ones are tested over FerretDB). */
export class FakeWebhookEndpoints implements WebhookEndpointAdmin {
  readonly endpoints: WebhookEndpointRecord[] = [];

  async create(...[input]: Args<WebhookEndpointAdmin['create']>) {
    const endpoint: WebhookEndpointRecord = {
      _id: `we_${randomBytes(12).toString('hex')}`,
      project_id: input.projectId,
      url: input.url,
      event_types: [...input.eventTypes],
      description: input.description,
      secret: `whsec_${randomBytes(24).toString('hex')}`,
      created_at: fakeNow,
      created_by: input.actor,
      updated_at: fakeNow,
      deleted_at: null,
    };
    this.endpoints.push(endpoint);
    return { endpoint, secret: endpoint.secret };
  }

  async list(...[projectId, includeDeleted]: Args<WebhookEndpointAdmin['list']>) {
    return this.endpoints.filter(
      (e) => e.project_id === projectId && (includeDeleted || e.deleted_at === null),
    );
  }

  async update(...[endpointId, changes, actor]: Args<WebhookEndpointAdmin['update']>) {
    const endpoint = this.own(actor.projectId, endpointId);
    if (changes.url !== undefined) endpoint.url = changes.url;
    if (changes.eventTypes !== undefined) endpoint.event_types = [...changes.eventTypes];
    if (changes.description !== undefined) endpoint.description = changes.description;
    return endpoint;
  }

  async delete(...[endpointId, actor]: Args<WebhookEndpointAdmin['delete']>) {
    const endpoint = this.own(actor.projectId, endpointId);
    endpoint.deleted_at = fakeNow;
    return endpoint;
  }

  async listDeliveries() {
    return [];
  }

  async getDelivery(...[, deliveryId]: Args<WebhookEndpointAdmin['getDelivery']>): Promise<never> {
    throw new NotFoundError(`webhook delivery ${deliveryId}`);
  }

  async replay(...[deliveryId]: Args<WebhookEndpointAdmin['replay']>): Promise<never> {
    throw new NotFoundError(`webhook delivery ${deliveryId}`);
  }

  private own(projectId: string, endpointId: string): WebhookEndpointRecord {
    const endpoint = this.endpoints.find((e) => e._id === endpointId && e.deleted_at === null);
    if (!endpoint || endpoint.project_id !== projectId) {
      throw new NotFoundError(`webhook endpoint ${endpointId}`);
    }
    return endpoint;
  }
}
