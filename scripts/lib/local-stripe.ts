/**
 * The Stripe half of `npm run start:local`, as functions a test can call
 * too (test/browser/first-minutes.test.ts runs the README's first minutes
 * against exactly this wiring): the sandbox unless a real test-mode key is
 * configured, the environment the service needs for it, the dev project
 * wired to it (key, webhook endpoint, catalog), and the checkout request
 * the banner and the README show.
 */
import type { SandboxClock } from '../../sandbox/billing/clock.js';
import type { BusinessClock } from '../../src/domain/business-clock.js';
import type { ProjectService } from '../../src/services/project-service.js';
import type { DevPrice } from './dev-catalog.js';
import { wireDevProject } from './dev-stripe-wiring.js';
import { type LocalSandbox, startLocalSandbox } from './sandbox-process.js';

export interface LocalStripe {
  /** Undefined with a real Stripe test-mode key (STRIPE_SECRET_KEY). */
  readonly sandbox: LocalSandbox | undefined;
  /** The real key, when set. */
  readonly stripeKey: string | undefined;
  /** STRIPE_WEBHOOK_SECRET (from `stripe listen`), when set. */
  readonly webhookSecret: string | undefined;
}

/** Starts the sandbox (SANDBOX_PORT, state in `dataDir`) unless STRIPE_SECRET_KEY is set. */
export async function startLocalStripe(
  dataDir: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<LocalStripe> {
  const stripeKey = env.STRIPE_SECRET_KEY || undefined;
  return {
    sandbox: stripeKey ? undefined : await startLocalSandbox(dataDir, env),
    stripeKey,
    webhookSecret: env.STRIPE_WEBHOOK_SECRET || undefined,
  };
}

/** What the service's environment needs: the SDK pointed at the sandbox. */
export function stripeServiceEnv(local: LocalStripe): Record<string, string> {
  return local.sandbox ? { STRIPE_API_URL: local.sandbox.sandbox.url } : {};
}

/**
 * The service's business time under the sandbox: real time plus the test
 * clock's offset, jumping when the clock advances, so that `advance 31d`
 * renews, ends trials and expires grants for the service as for Stripe.
 * Undefined with real Stripe (the wall clock then).
 */
export function localBusinessClock(local: LocalStripe): BusinessClock | undefined {
  return local.sandbox && followSandboxClock(local.sandbox.sandbox.clock);
}

export function followSandboxClock(clock: SandboxClock): BusinessClock {
  return {
    now: () => new Date(Date.now() + clock.offset * 1000),
    onJump: (listener) => clock.onAdvance(listener),
  };
}

/** The service's webhook URL for a project. */
export function webhookUrl(servicePort: number, projectId: string): string {
  return `http://127.0.0.1:${servicePort}/webhooks/stripe/${projectId}`;
}

/** Wires the project to the local Stripe (scripts/lib/dev-stripe-wiring.ts); the catalog's prices. */
export function wireLocalProject(
  projects: ProjectService,
  projectId: string,
  servicePort: number,
  local: LocalStripe,
): Promise<DevPrice[]> {
  return wireDevProject(projects, {
    projectId,
    secretKey: local.sandbox?.secretKey ?? local.stripeKey ?? '',
    apiUrl: local.sandbox?.sandbox.url,
    webhookUrl: webhookUrl(servicePort, projectId),
    webhookSecret: local.webhookSecret,
    createEndpoint: local.sandbox !== undefined,
  });
}

/**
 * The CreateCheckoutSession request of the banner (proto JSON, as grpcurl
 * takes it): customer `u1` subscribes to Pro, and comes back to `/demo`.
 */
export function devCheckoutRequest(servicePort: number, prices: readonly DevPrice[]) {
  const pro = prices.find((price) => price.name === 'Pro');
  return {
    customer_id: 'u1',
    mode: 'CHECKOUT_MODE_SUBSCRIPTION',
    line_items: [{ price_id: pro?.priceId ?? 'price_...', quantity: 1 }],
    success_url: `http://127.0.0.1:${servicePort}/demo`,
    cancel_url: `http://127.0.0.1:${servicePort}/demo`,
  };
}
