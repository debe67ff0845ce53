/**
 * The records that cross layers: stored by src/store/ (whose documents are
 * these shapes, see store/documents.ts), returned by services, turned into
 * API messages by src/api/. Declared here, in the pure layer, because every
 * layer above may import domain/ and none may import store/ but services;
 * fields keep their stored names, so the store writes a record as it is.
 */
import type { ScopeName } from './api-keys.js';
import type { FeatureKindName, OverageModeName, ResetIntervalName } from './catalog.js';

export interface CatalogFeatureRecord {
  feature: string;
  limit: number | null;
  limit_per_unit: boolean;
  /** Absent in catalogs stored before kinds: read with featureKindOf (catalog.ts). */
  kind?: FeatureKindName;
  /** Set for kind 'metered' only. */
  metered?: MeteredFeatureRecord | null;
  /** Metered only: a one-time purchase of this entry gives credits (absent: not a pack). */
  credit_pack?: CreditPackRecord | null;
}

export interface CreditPackRecord {
  amount_per_unit: number;
  /** 0: never expire. */
  expires_after_days: number;
}

export interface MeteredFeatureRecord {
  allowance: number;
  allowance_per_unit: boolean;
  reset: ResetIntervalName;
  overage: OverageModeName;
  stripe_meter_event_name: string | null;
}

export interface CatalogEntryRecord {
  /** A Stripe price (price_...) or product (prod_...) id. */
  stripe_id: string;
  features: CatalogFeatureRecord[];
}

export interface ProjectRecord {
  _id: string;
  name: string;
  /** Kept server-side only; never returned by any RPC. */
  stripe_secret_key: string | null;
  webhook_signing_secret: string | null;
  grace_period_seconds: number;
  catalog: CatalogEntryRecord[];
  created_at: Date;
  updated_at: Date;
}

export interface ApiKeyRecord {
  _id: string;
  project_id: string;
  name: string;
  /** SHA-256 of the whole key; the key itself is never stored. */
  secret_hash: string;
  scopes: ScopeName[];
  created_at: Date;
  created_by: string;
  revoked_at: Date | null;
  revoked_by: string | null;
}

/** A customer id linked to a Stripe customer (by a checkout); each side is unique per project. */
export interface CustomerLinkRecord {
  customer_id: string;
  stripe_customer_id: string;
  created_at: Date;
}

export interface AuditEntryRecord {
  _id: string;
  project_id: string;
  actor: string;
  action: string;
  target: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  reason: string;
  time: Date;
}

/** An entry to append to the audit log (its id is given when it is stored). */
export interface AuditRecord {
  readonly projectId: string;
  readonly actor: string;
  readonly action: string;
  readonly target: string;
  readonly before: Record<string, unknown> | null;
  readonly after: Record<string, unknown> | null;
  readonly reason: string;
  readonly time: Date;
}

export interface AuditQuery {
  readonly actor?: string;
  readonly action?: string;
  readonly target?: string;
  /** Inclusive. */
  readonly startTime?: Date;
  /** Exclusive. */
  readonly endTime?: Date;
  readonly before?: { readonly time: Date; readonly id: string };
  readonly limit: number;
}

export interface GrantRecord {
  _id: string;
  project_id: string;
  customer_id: string;
  feature: string;
  limit: number | null;
  expires_at: Date | null;
  reason: string;
  actor: string;
  created_at: Date;
  revoked_at: Date | null;
  revoked_by: string | null;
  revoke_reason: string | null;
}

/**
 * Credits granted by an operator (GrantCredits): a grant's fields with an
 * amount instead of a limit, as CreditGrantStore assembles them from their
 * insert-only facts (the grant and, once, its revocation). The id is crd_ +
 * creation time (base 36) + random: sorting by id sorts by creation.
 */
export type CreditGrantRecord = Omit<GrantRecord, 'limit'> & { amount: number };

/** Stripe's ids and event types are printable ASCII without spaces (evt_..., invoice.paid). */
export const eventIdPattern = /^[!-~]{1,255}$/;

/** `failed`: Stripe's next delivery retries it; `dead`: given up after too many attempts. */
export type EventReceiptStatus = 'processing' | 'processed' | 'ignored' | 'failed' | 'dead';

/** `unhandled_type`: an event type the service does not apply; `other_project`: not this project's object. */
export type IgnoredReason = 'unhandled_type' | 'other_project';

export interface EventReceiptRecord {
  _id: string;
  project_id: string;
  event_id: string;
  type: string;
  status: EventReceiptStatus;
  attempts: number;
  last_error: string | null;
  received_at: Date;
  processed_at: Date | null;
  /** Why an ignored event was not applied (absent on receipts older than this field). */
  ignored_reason?: IgnoredReason | null;
  /** While processing: after this time another delivery may take the event over (a crashed worker). */
  lease_until: Date;
  /** The verified event, kept once it is given up, so an operator can replay it. */
  event_json?: string;
}

export type ReconciliationRunState = 'queued' | 'running' | 'succeeded' | 'failed';

export type DriftClass = 'missing_locally' | 'stale' | 'missing_in_stripe';

export interface ReconciliationCounts {
  /** Subscriptions seen in Stripe. */
  checked: number;
  missing_locally: number;
  stale: number;
  missing_in_stripe: number;
  /** Drift fixed (zero in a dry run). */
  repaired: number;
  errors: number;
}

/**
 * One reconciliation of a project with Stripe. Written by whoever holds the
 * project's reconciliation lock (see ReconciliationLockStore), so there is
 * never more than one writer at a time.
 */
export interface ReconciliationRunRecord {
  /** `rr_` + creation time (base 36) + random: sorting by id sorts by creation. */
  _id: string;
  project_id: string;
  dry_run: boolean;
  state: ReconciliationRunState;
  /** The API key id of the operator, or `schedule`. */
  triggered_by: string;
  reason: string;
  created_at: Date;
  /** When the current attempt started (null while queued). */
  started_at: Date | null;
  finished_at: Date | null;
  counts: ReconciliationCounts;
  /** Stripe list requests of the attempt that finished. */
  stripe_list_calls: number;
  /** A few subscription ids of each drift class (at most 100 each), for operators. */
  drift_samples: Record<DriftClass, string[]>;
  error: string | null;
  /** 1 for the first execution; more when a run cut off by a crash was taken over. */
  attempts: number;
}

/** A product's webhook endpoint (webhook-endpoint-store.ts); `secret` open above the store. */
export interface WebhookEndpointRecord {
  _id: string;
  project_id: string;
  url: string;
  event_types: string[];
  description: string;
  /** Open (plain text) above this store; sealed in MongoDB. */
  secret: string;
  created_at: Date;
  created_by: string;
  updated_at: Date;
  deleted_at: Date | null;
}

/** Where one outbound event stands with one endpoint (webhook-delivery-store.ts). */
export type WebhookDeliveryState = 'pending' | 'succeeded' | 'failed';

export interface WebhookDeliveryRecord {
  _id: string;
  project_id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  /** Empty for events of no customer. */
  customer_id: string;
  order: number;
  status: WebhookDeliveryState;
  attempts: number;
  last_status_code: number;
  last_error: string;
  created_at: Date;
  next_attempt_at: Date | null;
  delivered_at: Date | null;
  /** After this, a failed attempt ends the delivery as failed. */
  give_up_at: Date;
}

/** One try of a delivery: the delivery log. */
export interface WebhookAttemptRecord {
  _id: string;
  delivery_id: string;
  project_id: string;
  number: number;
  /** The replica that claimed it. */
  owner: string;
  started_at: Date;
  /** Null while in flight (or when its sender died: see `recoverAttempt`). */
  finished_at: Date | null;
  status_code: number;
  error: string;
  duration_ms: number;
}

export interface DeliveryListQuery {
  readonly endpointId?: string;
  readonly eventId?: string;
  readonly status?: WebhookDeliveryState;
  /** The page starts after this delivery (newest first). */
  readonly after?: { readonly createdAt: Date; readonly id: string };
  readonly limit: number;
}
