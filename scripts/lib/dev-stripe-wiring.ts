/**
 * Wires the dev project to a Stripe account (the sandbox, or real test
 * mode): its secret key, a webhook endpoint that points at this service
 * (replaced each start, so the project always holds its current secret;
 * with real Stripe, `stripe listen` gives the secret instead), and the sample
 * catalog (scripts/lib/dev-catalog.ts).
 */
import Stripe from 'stripe';
import type { ProjectService } from '../../src/services/project-service.js';
import { type DevPrice, devCatalog, ensureDevPrices } from './dev-catalog.js';

export interface DevStripeTarget {
  readonly projectId: string;
  readonly secretKey: string;
  /** Where the SDK sends requests (the sandbox); undefined: Stripe itself. */
  readonly apiUrl: string | undefined;
  /** The service's webhook URL for the project. */
  readonly webhookUrl: string;
  /** A signing secret to use instead of creating an endpoint (STRIPE_WEBHOOK_SECRET). */
  readonly webhookSecret: string | undefined;
  /**
   * Whether to create a webhook endpoint for `webhookUrl` (the sandbox
   * can reach loopback; real Stripe cannot, `stripe listen` forwards instead).
   */
  readonly createEndpoint: boolean;
}

export async function wireDevProject(
  projects: ProjectService,
  target: DevStripeTarget,
): Promise<DevPrice[]> {
  const stripe = sdkFor(target);
  const prices = await ensureDevPrices(stripe);
  const webhookSecret =
    target.webhookSecret ??
    (target.createEndpoint ? await replaceWebhookEndpoint(stripe, target) : undefined);
  await projects.update(
    target.projectId,
    {
      stripeSecretKey: target.secretKey,
      ...(webhookSecret === undefined ? {} : { webhookSigningSecret: webhookSecret }),
    },
    'start-local',
    'local development: Stripe key and webhook secret',
  );
  await projects.setCatalog(target.projectId, devCatalog(), 'start-local', 'sample catalog');
  return prices;
}

function sdkFor(target: DevStripeTarget): Stripe {
  if (target.apiUrl === undefined) return new Stripe(target.secretKey);
  const url = new URL(target.apiUrl);
  return new Stripe(target.secretKey, {
    host: url.hostname,
    port: Number(url.port),
    protocol: url.protocol === 'https:' ? 'https' : 'http',
  });
}

/** Deletes the endpoints that point at this URL and creates one; returns its secret. */
async function replaceWebhookEndpoint(stripe: Stripe, target: DevStripeTarget): Promise<string> {
  for await (const endpoint of stripe.webhookEndpoints.list({ limit: 100 })) {
    if (endpoint.url === target.webhookUrl) await stripe.webhookEndpoints.del(endpoint.id);
  }
  const created = await stripe.webhookEndpoints.create({
    url: target.webhookUrl,
    enabled_events: ['*'],
    description: 'npm run start:local',
  });
  if (created.secret === undefined) throw new Error('Stripe returned no webhook secret');
  return created.secret;
}
