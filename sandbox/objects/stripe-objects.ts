/**
 * Builders for the Stripe objects and events the service handles, shaped on
 * Stripe's own fixtures (`stripe/openapi` fixtures3.json) and typed with the
 * SDK's types, so a wrong shape is a compile error. Placeholders of the
 * fixture (`1234567890`, `"message"`, garbage amounts) are replaced with real
 * timestamps, amounts and `null`s.
 *
 * API version 2026-10-28.endive (pinned by `stripe` 23.x):
 * - `current_period_start/end` live on each subscription item;
 * - an invoice links its subscription in `invoice.parent.subscription_details`;
 * - a charge has no `invoice`: reach it through `payment_intent`.
 *
 * Where fixtures3.json and the SDK types disagree, these builders follow the
 * types (see the notes next to the fields).
 *
 * This module gathers the builders, one file per kind of object.
 */

export * from './charge-objects.js';
export * from './customer-objects.js';
export * from './event-objects.js';
export * from './invoice-objects.js';
export * from './price-objects.js';
export * from './session-objects.js';
export * from './stripe-values.js';
export * from './subscription-objects.js';
