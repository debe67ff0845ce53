/**
 * A Stripe webhook delivery for a project: its signature is checked on the
 * raw body with the project's signing secret and Stripe's 300 s tolerance,
 * and only then is it parsed and applied. Bad signature, stale or future
 * timestamp, missing header, bad JSON or JSON that is not an event: 400 and
 * nothing stored. A failure while applying answers 500 so Stripe retries; a
 * duplicate answers 200. The HTTP side (method, body size) is the server's:
 * this module knows no sockets.
 */
import type { Logger } from '../logger.js';
import type { CustomerStore } from '../store/customer-store.js';
import type { ProjectDoc } from '../store/documents.js';
import type { PurchaseStore } from '../store/purchase-store.js';
import type { SubscriptionStore } from '../store/subscription-store.js';
import type { EventProcessor } from './event-processor.js';
import { futureTimeReason, isStripeEvent, notAnEventReason } from './event-shape.js';
import type { StripeClients } from './stripe-clients.js';

const toleranceSeconds = 300;

/** What the shim needs of projects: a (cached) lookup by id. */
export interface ProjectLookup {
  get(projectId: string): Promise<ProjectDoc | null>;
}

/** One POST as it arrived: the raw body and the Stripe-Signature header. */
export interface WebhookDelivery {
  readonly signature: string | undefined;
  readonly body: Buffer;
}

/** The HTTP status and JSON body to answer Stripe with. */
export interface WebhookAnswer {
  readonly status: number;
  readonly body: Readonly<Record<string, unknown>>;
}

export type WebhookShim = (projectId: string, delivery: WebhookDelivery) => Promise<WebhookAnswer>;

export interface WebhookShimDeps {
  readonly projects: ProjectLookup;
  readonly stripeClients: StripeClients;
  readonly processor: EventProcessor;
  readonly customers: CustomerStore;
  readonly subscriptions: SubscriptionStore;
  readonly purchases: PurchaseStore;
  readonly logger: Logger;
  /**
   * Business time (src/domain/business-clock.ts): an event's `created` may
   * not be ahead of it. A signature's time is checked against the wall clock.
   */
  readonly now?: () => Date;
}

const answer = (status: number, body: Record<string, unknown>): WebhookAnswer => ({ status, body });

export function createWebhookShim(deps: WebhookShimDeps): WebhookShim {
  const now = deps.now ?? (() => new Date());
  return async (projectId, { signature, body }) => {
    if (signature === undefined || signature === '') {
      return answer(400, { error: 'missing Stripe-Signature header' });
    }
    const project = await deps.projects.get(projectId);
    if (!project) return answer(404, { error: 'unknown project' });
    if (!project.webhook_signing_secret || !project.stripe_secret_key) {
      return answer(400, { error: 'project has no Stripe webhook secret or key configured' });
    }
    const stripe = deps.stripeClients.forKey(project.stripe_secret_key);
    let signed: unknown;
    try {
      signed = await stripe.webhooks.constructEventAsync(
        body,
        signature,
        project.webhook_signing_secret,
        toleranceSeconds,
      );
    } catch {
      // One answer for every failure: the caller learns nothing about which check failed.
      return answer(400, { error: 'invalid signature, stale timestamp or malformed payload' });
    }
    if (!isStripeEvent(signed)) {
      return answer(400, { error: `not a Stripe event: ${notAnEventReason(signed)}` });
    }
    const event = signed;
    const wall = new Date();
    const early = futureTimeReason(event, signature, { wall, business: now() }, toleranceSeconds);
    if (early !== undefined) return answer(400, { error: early });
    const outcome = await deps.processor
      .process(event, {
        project,
        stripe,
        customers: deps.customers,
        subscriptions: deps.subscriptions,
        purchases: deps.purchases,
        // Business time: a credit pack's expiry runs from when it was paid.
        now: now(),
      })
      .catch((error: unknown) => {
        deps.logger.error('webhook answered 500', {
          project_id: project._id,
          event_id: event.id,
          type: event.type,
          error,
        });
        return 'failed' as const;
      });
    if (outcome === 'failed') return answer(500, { error: 'event not applied; retry' });
    // Another delivery of the same event is being applied right now: a retry will see it done.
    if (outcome === 'busy') return answer(409, { error: 'event is being processed; retry' });
    return answer(200, { received: true, outcome });
  };
}
