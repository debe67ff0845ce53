/**
 * Whether a verified event is about this project's own objects. Projects
 * may share one Stripe account, and Stripe sends every event of the account
 * to every endpoint: a project applies only what belongs to it (rules in
 * domain/stripe-ownership.ts).
 *
 * In order: a project marker in the object's metadata decides (the checkout
 * sessions the service starts carry one); else the Stripe customer decides,
 * as recorded when the project created or linked it, or else as its
 * metadata in Stripe says (decided once, then recorded); a payment with no
 * customer is the project's when the project recorded its checkout.
 */
import type Stripe from 'stripe';
import { ownershipByMarker } from '../domain/stripe-ownership.js';
import type { EventOwner, WebhookContext } from './handlers/types.js';

export async function belongsToProject(
  owner: EventOwner,
  context: WebhookContext,
): Promise<boolean> {
  const projectId = context.project._id;
  const byMarker = ownershipByMarker(projectId, owner.metadata);
  if (byMarker !== 'unknown') return byMarker === 'ours';
  if (owner.stripeCustomerId) return ownsStripeCustomer(owner.stripeCustomerId, context);
  if (owner.paymentIntentId) {
    return (await context.purchases.stripeCustomerOf(projectId, owner.paymentIntentId)) !== null;
  }
  return false;
}

async function ownsStripeCustomer(
  stripeCustomerId: string,
  context: WebhookContext,
): Promise<boolean> {
  const projectId = context.project._id;
  const recorded = await context.customers.ownsStripeCustomer(projectId, stripeCustomerId);
  if (recorded !== undefined) return recorded;
  const customer = await retrieveCustomer(context.stripe, stripeCustomerId);
  const owned =
    customer !== undefined && ownershipByMarker(projectId, customer.metadata) === 'ours';
  await context.customers.recordOwnership(
    projectId,
    stripeCustomerId,
    { owned, decidedBy: 'metadata' },
    context.now,
  );
  return owned;
}

/** The customer, or undefined when this account has no such (live) customer. */
async function retrieveCustomer(
  stripe: Stripe,
  stripeCustomerId: string,
): Promise<Stripe.Customer | undefined> {
  try {
    const customer = await stripe.customers.retrieve(stripeCustomerId);
    return customer.deleted ? undefined : customer;
  } catch (err) {
    if (isResourceMissing(err)) return undefined;
    throw err;
  }
}

function isResourceMissing(err: unknown): boolean {
  return (
    typeof err === 'object' &&
    err !== null &&
    (err as { code?: unknown }).code === 'resource_missing'
  );
}
