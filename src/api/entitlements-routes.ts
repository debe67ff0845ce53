/**
 * EntitlementsService handlers: validate, authorize, answer from the
 * EntitlementLookupService. Check, List and Watch accept an API key with
 * entitlements:read, or a customer token for that very customer.
 */
import { create } from '@bufbuild/protobuf';
import { type Duration, timestampFromDate, timestampNow } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import {
  type CheckEntitlementResponse,
  CheckEntitlementResponseSchema,
  CommitReservationResponseSchema,
  type EntitlementsService,
  IssueCustomerTokenResponseSchema,
  ListEntitlementsResponseSchema,
  ProjectChangeKind,
  ReleaseReservationResponseSchema,
  ReserveUsageResponseSchema,
  TrackUsageResponseSchema,
  WatchEntitlementsResponseSchema,
  WatchEventKind,
  WatchProjectChangesResponseSchema,
} from '../../gen/billing/v1/entitlements_pb.js';
import { signCustomerToken } from '../domain/customer-tokens.js';
import { type EntitlementSet, entitlementFor } from '../domain/entitlements.js';
import type { EntitlementLookupService } from '../services/entitlement-lookup-service.js';
import type { EntitlementWatchHub, WatchUpdate } from '../services/entitlement-watch-hub.js';
import type {
  ProjectChangeFeedService,
  ProjectFeedUpdate,
} from '../services/project-change-feed.js';
import type { UsageService } from '../services/usage-service.js';
import { requireCustomerAccess, requirePrincipal, requireReader } from './auth.js';
import { entitlementMessage, entitlementMessageFor, timestampOrUndefined } from './convert.js';
import { type EntitlementHistory, historyHandlers } from './entitlement-history-handlers.js';
import {
  commitReservationInput,
  releaseReservationInput,
  reserveUsageInput,
} from './reservation-requests.js';
import { requestedAmount, trackUsageInput } from './usage-requests.js';
import {
  optionalFeedPosition,
  requireCustomerId,
  requireFeature,
  wholeSeconds,
} from './validate.js';

/** What the handlers call (the service classes satisfy these; tests pass fakes). */
export type EntitlementLookup = Pick<EntitlementLookupService, 'list'>;
export type EntitlementWatch = Pick<EntitlementWatchHub, 'watch'>;
export type ProjectChangeWatch = Pick<ProjectChangeFeedService, 'watch'>;
export type UsageTracker = Pick<UsageService, 'track' | 'reserve' | 'commit' | 'release'>;

export interface EntitlementsRoutesDeps {
  readonly entitlements: EntitlementLookup;
  readonly watchHub: EntitlementWatch;
  readonly changeFeed: ProjectChangeWatch;
  readonly usage: UsageTracker;
  /** ExplainEntitlement and ListCustomerTimeline. */
  readonly history: EntitlementHistory;
  /** The first signs customer tokens; empty: IssueCustomerToken is FAILED_PRECONDITION. */
  readonly customerTokenSecrets: readonly string[];
  /** Business time (src/domain/business-clock.ts), which usage times are checked against. */
  readonly now?: () => Date;
}

const defaultTokenTtlSeconds = 15 * 60;
const maxTokenTtlSeconds = 24 * 3600;

export function entitlementsHandlers(
  deps: EntitlementsRoutesDeps,
): ServiceImpl<typeof EntitlementsService> {
  const now = deps.now ?? (() => new Date());
  const checkResponses = new CheckResponseMemo();
  return {
    ...historyHandlers(deps.history),
    async checkEntitlement(req, context) {
      const principal = requireReader(context);
      const customerId = requireCustomerId(req.customerId);
      const feature = requireFeature('feature', req.feature);
      const requested = requestedAmount(req.requestedAmount);
      requireCustomerAccess(principal, customerId);
      const set = await deps.entitlements.list(principal.projectId, customerId);
      return checkResponses.get(set, feature, requested);
    },

    async listEntitlements(req, context) {
      const principal = requireReader(context);
      const customerId = requireCustomerId(req.customerId);
      requireCustomerAccess(principal, customerId);
      const set = await deps.entitlements.list(principal.projectId, customerId);
      return create(ListEntitlementsResponseSchema, {
        entitlements: set.entitlements.map(entitlementMessage),
        validUntil: timestampOrUndefined(set.validUntil),
        version: versionOf(set),
      });
    },

    async *watchEntitlements(req, context) {
      const principal = requireReader(context);
      const customerId = requireCustomerId(req.customerId);
      requireCustomerAccess(principal, customerId);
      // A customer token's stream ends when the token does: access is never longer than the token.
      const signal =
        principal.kind === 'customer_token'
          ? AbortSignal.any([
              context.signal,
              AbortSignal.timeout(Math.max(0, principal.expiresAt.getTime() - Date.now())),
            ])
          : context.signal;
      const resumeFrom = Number(req.resumeFromVersion);
      const updates = deps.watchHub.watch(principal.projectId, customerId, signal, resumeFrom);
      for await (const update of updates) yield watchMessage(update);
    },

    async *watchProjectChanges(req, context) {
      const principal = requirePrincipal(context);
      const resumeAfter = optionalFeedPosition('resume_after', req.resumeAfter);
      const updates = deps.changeFeed.watch(principal.projectId, resumeAfter, context.signal);
      for await (const update of updates) yield projectChangeMessage(update);
    },

    async trackUsage(req, context) {
      const principal = requirePrincipal(context);
      const tracked = await deps.usage.track(trackUsageInput(req, principal.projectId, now()));
      return create(TrackUsageResponseSchema, {
        usageId: tracked.usageId,
        entitlement: entitlementMessage(tracked.entitlement),
      });
    },

    async reserveUsage(req, context) {
      const principal = requirePrincipal(context);
      const reserved = await deps.usage.reserve(reserveUsageInput(req, principal.projectId));
      return create(ReserveUsageResponseSchema, {
        reservationId: reserved.reservationId,
        expiresAt: timestampFromDate(reserved.expiresAt),
        entitlement: entitlementMessage(reserved.entitlement),
      });
    },

    async commitReservation(req, context) {
      const principal = requirePrincipal(context);
      const committed = await deps.usage.commit(commitReservationInput(req, principal.projectId));
      return create(CommitReservationResponseSchema, {
        usageId: committed.usageId,
        entitlement: entitlementMessage(committed.entitlement),
      });
    },

    async releaseReservation(req, context) {
      const principal = requirePrincipal(context);
      const entitlement = await deps.usage.release(
        releaseReservationInput(req, principal.projectId),
      );
      return create(ReleaseReservationResponseSchema, {
        entitlement: entitlementMessage(entitlement),
      });
    },

    async issueCustomerToken(req, context) {
      const principal = requirePrincipal(context);
      const customerId = requireCustomerId(req.customerId);
      const secret = deps.customerTokenSecrets[0];
      if (!secret)
        throw new ConnectError(
          'customer tokens are not configured on this service',
          Code.FailedPrecondition,
        );
      // A token is a credential: it lasts by the wall clock, as the auth interceptor checks it.
      const expiresAt = new Date(Date.now() + tokenTtlSeconds(req.ttl) * 1000);
      const token = signCustomerToken(
        { projectId: principal.projectId, customerId, keyId: principal.keyId, expiresAt },
        secret,
      );
      return create(IssueCustomerTokenResponseSchema, {
        token,
        expiresAt: timestampFromDate(expiresAt),
      });
    },
  };
}

function tokenTtlSeconds(ttl: Duration | undefined): number {
  return wholeSeconds('ttl', ttl, defaultTokenTtlSeconds, maxTokenTtlSeconds);
}

const watchKinds = {
  snapshot: WatchEventKind.SNAPSHOT,
  change: WatchEventKind.CHANGE,
  heartbeat: WatchEventKind.HEARTBEAT,
} as const;

function watchMessage(update: WatchUpdate) {
  if (update.kind === 'heartbeat') {
    return create(WatchEntitlementsResponseSchema, {
      kind: watchKinds.heartbeat,
      sentAt: timestampNow(),
      version: BigInt(update.version),
    });
  }
  return create(WatchEntitlementsResponseSchema, {
    kind: watchKinds[update.kind],
    entitlements: update.set.entitlements.map(entitlementMessage),
    validUntil: timestampOrUndefined(update.set.validUntil),
    sentAt: timestampNow(),
    version: versionOf(update.set),
  });
}

const projectChangeKinds = {
  ready: ProjectChangeKind.READY,
  resync: ProjectChangeKind.RESYNC,
  customer: ProjectChangeKind.CUSTOMER,
  project: ProjectChangeKind.PROJECT,
  heartbeat: ProjectChangeKind.HEARTBEAT,
} as const;

function projectChangeMessage(update: ProjectFeedUpdate) {
  const common = {
    kind: projectChangeKinds[update.kind],
    position: update.position,
    sentAt: timestampNow(),
  };
  if (update.kind !== 'customer') return create(WatchProjectChangesResponseSchema, common);
  return create(WatchProjectChangesResponseSchema, {
    ...common,
    customerId: update.customerId,
    version: versionOf(update.set),
    entitlements: update.set.entitlements.map(entitlementMessage),
    validUntil: timestampOrUndefined(update.set.validUntil),
  });
}

/** The consistency token of a set; 0 when it is not known. */
const versionOf = (set: EntitlementSet): bigint => BigInt(set.version ?? 0);

/**
 * The hot path: a warm check returns the same cached EntitlementSet object
 * until something changes, so the answer message built for (set, feature)
 * is kept with the set and built once, not on every call. Keyed weakly: a
 * set dropped from the caches takes its answers with it.
 */
class CheckResponseMemo {
  private readonly bySet = new WeakMap<EntitlementSet, Map<string, CheckEntitlementResponse>>();

  get(set: EntitlementSet, feature: string, requested: number): CheckEntitlementResponse {
    let answers = this.bySet.get(set);
    if (!answers) {
      answers = new Map();
      this.bySet.set(set, answers);
    }
    const key = requested === 1 ? feature : `${feature}\u0000${requested}`;
    let answer = answers.get(key);
    if (!answer) {
      // Frozen: it is shared by every call, and the gRPC path encodes it once (answer-envelopes.ts).
      answer = deepFrozen(
        create(CheckEntitlementResponseSchema, {
          entitlement: entitlementMessageFor(entitlementFor(set, feature), requested),
          version: versionOf(set),
        }),
      );
      // Bounded by what callers ask for; cap it so a scan of random feature names cannot grow it.
      if (answers.size < maxMemoizedFeatures) answers.set(key, answer);
    }
    return answer;
  }
}

const maxMemoizedFeatures = 256;

/** Freezes a message and everything in it (typed arrays cannot be frozen, and are left). */
function deepFrozen<T extends object>(value: T): T {
  for (const field of Object.values(value)) {
    if (typeof field === 'object' && field !== null && !ArrayBuffer.isView(field))
      deepFrozen(field);
  }
  return Object.freeze(value);
}
