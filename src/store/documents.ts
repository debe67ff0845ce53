/**
 * The shape of every MongoDB document. Every collection except `projects`
 * is scoped by `project_id`, and every query filters on it.
 */
// The shapes the API also reads are domain records (src/domain/records.ts);
// a document is such a record as stored.
export type {
  ApiKeyRecord as ApiKeyDoc,
  AuditEntryRecord as AuditEntryDoc,
  CatalogEntryRecord as CatalogEntryDoc,
  CatalogFeatureRecord as CatalogFeatureDoc,
  CreditGrantRecord as CreditGrantDoc,
  DriftClass,
  EventReceiptRecord as EventReceiptDoc,
  EventReceiptStatus,
  GrantRecord as GrantDoc,
  IgnoredReason,
  ProjectRecord as ProjectDoc,
  ReconciliationCounts as ReconciliationCountsDoc,
  ReconciliationRunRecord as ReconciliationRunDoc,
  ReconciliationRunState,
} from '../domain/records.js';

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
  /**
   * On the second and later versions fetched for one second (a later event
   * of it disagreed again): 2, 3...; absent on the first, which is 1.
   */
  fetch_seq?: number;
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
  /** When the paid and refunded facts were recorded (credit packs date their lots by them). */
  paid_at: Date | null;
  refunded_at: Date | null;
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

/** One project's business figures on one UTC day, as last taken that day (daily-snapshot-store.ts). */
export interface DailySnapshotDoc {
  /** `{project}:{YYYY-MM-DD}`. */
  _id: string;
  project_id: string;
  day: string;
  taken_at: Date;
  subscriptions_by_status: { status: string; count: number }[];
  active_customers: number;
  /** Minor units as decimal strings: exact whatever their size. */
  mrr: { currency: string; amount_minor: string }[];
}
