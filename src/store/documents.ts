/**
 * The shape of every MongoDB document. Every collection except `projects`
 * is scoped by `project_id`, and every query filters on it.
 */
import type { ScopeName } from '../domain/api-keys.js';

export interface CatalogFeatureDoc {
  feature: string;
  limit: number | null;
  limit_per_unit: boolean;
}

export interface CatalogEntryDoc {
  /** A Stripe price (price_...) or product (prod_...) id. */
  stripe_id: string;
  features: CatalogFeatureDoc[];
}

export interface ProjectDoc {
  _id: string;
  name: string;
  /** Kept server-side only; never returned by any RPC. */
  stripe_secret_key: string | null;
  webhook_signing_secret: string | null;
  grace_period_seconds: number;
  catalog: CatalogEntryDoc[];
  created_at: Date;
  updated_at: Date;
}

export interface ApiKeyDoc {
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

export interface AuditEntryDoc {
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

/** Links the product's own customer id to the Stripe customer. */
export interface CustomerDoc {
  _id: string;
  project_id: string;
  customer_id: string;
  stripe_customer_id: string;
  created_at: Date;
}

/**
 * Whether a Stripe customer belongs to the project (projects may share one
 * Stripe account). Written when the project creates or links the customer,
 * or decided once from the customer's metadata; see domain/stripe-ownership.ts.
 */
export interface StripeCustomerOwnershipDoc {
  /** `{project}:{stripe customer}`. */
  _id: string;
  project_id: string;
  stripe_customer_id: string;
  owned: boolean;
  /** `linked`: created or linked by the project; `metadata`: decided from Stripe's customer. */
  decided_by: 'linked' | 'metadata';
  created_at: Date;
}

export interface SubscriptionItemDoc {
  id: string;
  price_id: string;
  product_id: string;
  quantity: number;
  current_period_start: Date | null;
  current_period_end: Date | null;
  /** For MRR: minor units per unit and the billing interval. */
  unit_amount: number | null;
  currency: string;
  interval: string | null;
  interval_count: number;
}

/**
 * One version of a Stripe subscription: the state an event showed (or, when
 * two events of the same second disagreed, the state fetched from Stripe).
 * The newest version is the mirror; see SubscriptionStore.
 */
export interface SubscriptionDoc {
  /** `{project}:{subscription}:{event_created}`, plus `:stripe` for a fetched tie-break. */
  _id: string;
  project_id: string;
  stripe_subscription_id: string;
  stripe_customer_id: string;
  status: string;
  items: SubscriptionItemDoc[];
  cancel_at_period_end: boolean;
  cancel_at: Date | null;
  canceled_at: Date | null;
  ended_at: Date | null;
  trial_end: Date | null;
  currency: string;
  created: Date;
  /** `created` (seconds) of the Stripe event this version comes from. */
  event_created: number;
  /** Fetched from Stripe to settle two events of the same second: wins that tie. */
  fetched_from_stripe: boolean;
  /**
   * On a version fetched to settle a tie: the statuses the disagreeing events
   * of that second showed (when the grace period began depends on them).
   * Absent on versions written before it existed.
   */
  same_second_statuses?: string[];
  updated_at: Date;
}

export interface PurchaseItemDoc {
  price_id: string;
  product_id: string;
  quantity: number;
}

export type PurchaseFactKind = 'checkout' | 'paid' | 'refunded';

/**
 * One fact about a one-time payment, written once and never changed: its
 * checkout (line items, customer), that it was paid, that it was fully
 * refunded. A purchase is the sum of its facts, so facts arriving in any
 * order, any number of times, concurrently, add up to the same purchase.
 * Keyed by the PaymentIntent (a charge.refunded event knows no session).
 */
export interface PurchaseFactDoc {
  /** `{project}:{purchase_key}:{fact}`. */
  _id: string;
  project_id: string;
  purchase_key: string;
  fact: PurchaseFactKind;
  /** Set on checkout facts: what was bought, by whom. */
  checkout_session_id: string | null;
  stripe_customer_id: string | null;
  items: PurchaseItemDoc[];
  amount_total: number | null;
  currency: string | null;
  created: Date;
}

/** A purchase as its facts add up. */
export interface Purchase {
  purchase_key: string;
  checkout_session_id: string | null;
  stripe_customer_id: string | null;
  items: PurchaseItemDoc[];
  paid: boolean;
  refunded: boolean;
}

export interface GrantDoc {
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

/** `failed`: Stripe's next delivery retries it; `dead`: given up after too many attempts. */
export type EventReceiptStatus = 'processing' | 'processed' | 'ignored' | 'failed' | 'dead';

/** `unhandled_type`: an event type the service does not apply; `other_project`: not this project's object. */
export type IgnoredReason = 'unhandled_type' | 'other_project';

export interface EventReceiptDoc {
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

export interface ReconciliationCountsDoc {
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
export interface ReconciliationRunDoc {
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
  counts: ReconciliationCountsDoc;
  /** Stripe list requests of the attempt that finished. */
  stripe_list_calls: number;
  /** A few subscription ids of each drift class (at most 100 each), for operators. */
  drift_samples: Record<DriftClass, string[]>;
  error: string | null;
  /** 1 for the first execution; more when a run cut off by a crash was taken over. */
  attempts: number;
}

export type ReconciliationLockPhase = 'queued' | 'running' | 'released';

/**
 * One generation of a project's reconciliation lock. Generations are only
 * ever inserted (`_id` = project + generation), so taking the lock is a
 * compare-and-swap on FerretDB too: exactly one writer inserts generation
 * n + 1. The newest generation tells who holds the lock.
 */
export interface ReconciliationLockDoc {
  /** `{project}:{generation, 12 digits}`. */
  _id: string;
  project_id: string;
  generation: number;
  run_id: string;
  phase: ReconciliationLockPhase;
  /** The service instance that inserted this generation. */
  owner: string;
  /** After this the holder counts as gone and the lock may be taken over. */
  lease_until: Date;
  created_at: Date;
}

/** A claim on one occurrence of a scheduled job (Agenda may run it on two replicas). */
export interface JobClaimDoc {
  _id: string;
  job: string;
  owner: string;
  created_at: Date;
  /** Set by jobs that record what an occurrence did (the retention job: counts deleted). */
  finished_at?: Date;
  result?: Record<string, number>;
}
