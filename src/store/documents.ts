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
