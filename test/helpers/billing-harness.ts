/**
 * Everything a Stripe-facing test needs: the real service pointed at a
 * local fake of the Stripe API, a project whose Stripe key and webhook
 * secret are its own, a catalog, and clients. Webhooks are real signed
 * payloads posted over HTTP. The service's business time follows the
 * sandbox's clock, as under start:local.
 */
import { randomBytes } from 'node:crypto';
import { type Client, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import type Stripe from 'stripe';
import { CheckoutMode, CheckoutService } from '../../gen/billing/v1/checkout_pb.js';
import { EntitlementsService } from '../../gen/billing/v1/entitlements_pb.js';
import { type Sandbox, startSandbox } from '../../sandbox/index.js';
import { followSandboxClock } from '../../scripts/lib/local-stripe.js';
import type { CatalogEntryDoc } from '../../src/store/documents.js';
import { createTestProject, startTestApp, type TestApp, type TestProject } from './app.js';
import { signedWebhook } from './stripe-objects.js';

export interface HarnessProject extends TestProject {
  readonly stripeSecretKey: string;
  readonly webhookSecret: string;
}

export interface BillingHarness {
  readonly server: TestApp;
  readonly fake: Sandbox;
  readonly project: HarnessProject;
  readonly entitlements: Client<typeof EntitlementsService>;
  readonly checkout: Client<typeof CheckoutService>;
  /** Request options carrying the project's admin key. */
  readonly auth: { headers: { authorization: string } };
  /** Signs and posts an event (or a raw body) to the project's webhook URL. */
  post(event: Stripe.Event | string, options?: PostOptions): Promise<WebhookAnswer>;
  /**
   * Links a customer id to a new Stripe customer the way products do: a
   * CreateCheckoutSession call (which creates the Stripe customer).
   */
  linkCustomer(customerId: string): Promise<string>;
  /**
   * A second project on the same service, with its own webhook secret and
   * its own Stripe account, or the given account's key (a shared account).
   */
  addProject(name: string, sharedStripeSecretKey?: string): Promise<HarnessProject>;
  /**
   * The service's business time: it follows the sandbox's clock as under
   * start:local, so it is real time until a test calls `fake.advance`.
   */
  now(): Date;
  close(): Promise<void>;
}

export interface PostOptions {
  readonly secret?: string;
  readonly timestamp?: number;
  readonly projectId?: string;
  readonly header?: string | null;
  readonly body?: string;
}

export interface WebhookAnswer {
  readonly status: number;
  readonly body: { outcome?: string; error?: string };
}

export const defaultCatalog: CatalogEntryDoc[] = [
  {
    stripe_id: 'price_pro_monthly',
    features: [
      { feature: 'reports', limit: null, limit_per_unit: false },
      { feature: 'seats', limit: 1, limit_per_unit: true },
    ],
  },
  {
    stripe_id: 'prod_api',
    features: [{ feature: 'api_calls', limit: 10_000, limit_per_unit: false }],
  },
  {
    stripe_id: 'price_lifetime',
    features: [{ feature: 'export', limit: null, limit_per_unit: false }],
  },
];

export interface HarnessOptions {
  readonly redisUrl?: string;
  readonly catalog?: CatalogEntryDoc[];
  readonly env?: Readonly<Record<string, string>>;
}

export async function startBillingHarness(options: HarnessOptions = {}): Promise<BillingHarness> {
  const fake = await startSandbox();
  const clock = followSandboxClock(fake.clock);
  const server = await startTestApp({
    redisUrl: options.redisUrl,
    env: { STRIPE_API_URL: fake.url, ...options.env },
    clock,
  });
  const addProject = async (
    name: string,
    sharedStripeSecretKey?: string,
  ): Promise<HarnessProject> => {
    const stripeSecretKey = sharedStripeSecretKey ?? `sk_test_${randomBytes(12).toString('hex')}`;
    const webhookSecret = `whsec_${randomBytes(16).toString('hex')}`;
    const project = await createTestProject(server.app, name, {
      stripeSecretKey,
      webhookSigningSecret: webhookSecret,
    });
    await server.app.projects.setCatalog(
      project.projectId,
      options.catalog ?? defaultCatalog,
      'test',
      'test catalog',
    );
    if (sharedStripeSecretKey === undefined) seedPrices(fake, stripeSecretKey);
    return { ...project, stripeSecretKey, webhookSecret };
  };
  const project = await addProject('harness');
  const transport = createConnectTransport({ baseUrl: server.baseUrl, httpVersion: '1.1' });
  const post = async (
    event: Stripe.Event | string,
    postOptions: PostOptions = {},
  ): Promise<WebhookAnswer> => {
    const signed = signedWebhook(
      event,
      postOptions.secret ?? project.webhookSecret,
      postOptions.timestamp,
    );
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const header = postOptions.header === undefined ? signed.header : postOptions.header;
    if (header !== null) headers['stripe-signature'] = header;
    const response = await fetch(
      `${server.baseUrl}/webhooks/stripe/${postOptions.projectId ?? project.projectId}`,
      {
        method: 'POST',
        headers,
        body: postOptions.body ?? signed.body,
      },
    );
    const text = await response.text();
    return {
      status: response.status,
      body: text ? (JSON.parse(text) as WebhookAnswer['body']) : {},
    };
  };
  const checkout = createClient(CheckoutService, transport);
  const auth = { headers: { authorization: `Bearer ${project.adminKey}` } };
  const linkCustomer = async (customerId: string): Promise<string> => {
    const session = await checkout.createCheckoutSession(
      {
        customerId,
        mode: CheckoutMode.SUBSCRIPTION,
        lineItems: [{ priceId: 'price_pro_monthly', quantity: 1n }],
        successUrl: 'https://app.example/ok',
        cancelUrl: 'https://app.example/cancel',
      },
      auth,
    );
    return session.stripeCustomerId;
  };
  return {
    server,
    fake,
    project,
    entitlements: createClient(EntitlementsService, transport),
    checkout,
    auth,
    post,
    linkCustomer,
    addProject,
    now: () => clock.now(),
    close: async () => {
      await server.app.stop();
      await fake.close();
    },
  };
}

/** The prices the default catalog names, in the project's own fake Stripe account. */
function seedPrices(fake: Sandbox, apiKey: string): void {
  fake.seedPrice(
    {
      id: 'price_pro_monthly',
      product: 'prod_pro',
      unit_amount: 2000,
      recurring: { interval: 'month' },
    },
    apiKey,
  );
  fake.seedPrice(
    {
      id: 'price_api_yearly',
      product: 'prod_api',
      unit_amount: 50000,
      recurring: { interval: 'year' },
    },
    apiKey,
  );
  fake.seedPrice(
    { id: 'price_lifetime', product: 'prod_lifetime', unit_amount: 9900, recurring: null },
    apiKey,
  );
}
