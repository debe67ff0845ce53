/**
 * POST /webhooks/stripe/{project}: the raw body is kept, its signature is
 * checked with the project's signing secret and Stripe's 300 s tolerance,
 * and only then is it parsed and applied. Bad signature, stale or future
 * timestamp, missing header, bad JSON or JSON that is not an event: 400 and
 * nothing stored. A failure while
 * applying answers 500 so Stripe retries; a duplicate answers 200.
 */
import type { Logger } from '../logger.js';
import type { NodeRequest, NodeResponse } from '../server/http-routes.js';
import { sendJson } from '../server/http-routes.js';
import type { ProjectCache } from '../services/project-cache.js';
import type { CustomerStore } from '../store/customer-store.js';
import type { PurchaseStore } from '../store/purchase-store.js';
import type { SubscriptionStore } from '../store/subscription-store.js';
import type { EventProcessor } from './event-processor.js';
import { futureTimeReason, isStripeEvent, notAnEventReason } from './event-shape.js';
import type { StripeClients } from './stripe-clients.js';

const toleranceSeconds = 300;

export interface WebhookShimDeps {
  readonly projects: ProjectCache;
  readonly stripeClients: StripeClients;
  readonly processor: EventProcessor;
  readonly customers: CustomerStore;
  readonly subscriptions: SubscriptionStore;
  readonly purchases: PurchaseStore;
  readonly maxBodyBytes: number;
  readonly logger: Logger;
  readonly now?: () => Date;
}

export function createWebhookShim(deps: WebhookShimDeps) {
  const now = deps.now ?? (() => new Date());
  return async (projectId: string, req: NodeRequest, res: NodeResponse): Promise<void> => {
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'use POST' });
    const body = await readBody(req, deps.maxBodyBytes);
    if (body === 'too large') {
      sendJson(res, 413, { error: `body larger than ${deps.maxBodyBytes} bytes` });
      req.destroy();
      return;
    }
    const signature = req.headers['stripe-signature'];
    if (typeof signature !== 'string' || signature === '') {
      return sendJson(res, 400, { error: 'missing Stripe-Signature header' });
    }
    const project = await deps.projects.get(projectId);
    if (!project) return sendJson(res, 404, { error: 'unknown project' });
    if (!project.webhook_signing_secret || !project.stripe_secret_key) {
      return sendJson(res, 400, {
        error: 'project has no Stripe webhook secret or key configured',
      });
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
      return sendJson(res, 400, {
        error: 'invalid signature, stale timestamp or malformed payload',
      });
    }
    if (!isStripeEvent(signed)) {
      return sendJson(res, 400, { error: `not a Stripe event: ${notAnEventReason(signed)}` });
    }
    const event = signed;
    const early = futureTimeReason(event, signature, now(), toleranceSeconds);
    if (early !== undefined) return sendJson(res, 400, { error: early });
    const outcome = await deps.processor
      .process(event, {
        project,
        stripe,
        customers: deps.customers,
        subscriptions: deps.subscriptions,
        purchases: deps.purchases,
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
    if (outcome === 'failed') return sendJson(res, 500, { error: 'event not applied; retry' });
    // Another delivery of the same event is being applied right now: a retry will see it done.
    if (outcome === 'busy') return sendJson(res, 409, { error: 'event is being processed; retry' });
    sendJson(res, 200, { received: true, outcome });
  };
}

async function readBody(req: NodeRequest, maxBytes: number): Promise<Buffer | 'too large'> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) return 'too large';
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > maxBytes) return 'too large';
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}
