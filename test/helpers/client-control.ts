/**
 * What a client's own test program (go test, pytest) cannot do from its side
 * of the wire, offered on a loopback HTTP endpoint (BILLING_CONTROL_URL):
 *
 * - `POST /webhooks/subscription` `{"customer_id": "..."}`: links the
 *   customer to a Stripe customer and delivers a signed
 *   `customer.subscription.created` (active, price_pro_monthly: the feature
 *   `reports`) to the smoke service, as Stripe would;
 * - `POST /restartable/start`: a second service instance of its own (so a
 *   restart disturbs no other test), started, or started again on the same
 *   port and database after a stop; answers `{"url", "api_key"}`;
 * - `POST /restartable/stop`: stops that instance.
 *
 * Each answers when its effect is done.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTestProject, startTestApp, type TestApp } from './app.js';
import type { BillingHarness } from './billing-harness.js';
import { makeEvent, makeSubscription, nowSeconds } from './stripe-objects.js';

export interface ClientControl {
  readonly url: string;
  close(): Promise<void>;
}

/** The second instance: its first start creates a project, later starts reuse port and database. */
class RestartableService {
  private running: TestApp | undefined;
  private kept: { port: string; database: string; apiKey: string } | undefined;

  async start(): Promise<{ url: string; api_key: string }> {
    if (this.running === undefined) {
      const kept = this.kept;
      this.running = await startTestApp(
        kept === undefined ? {} : { database: kept.database, env: { PORT: kept.port } },
      );
      if (kept === undefined) {
        const project = await createTestProject(this.running.app, 'restartable');
        this.kept = {
          port: new URL(this.running.baseUrl).port,
          database: this.running.config.mongodbDatabase,
          apiKey: project.adminKey,
        };
      }
    }
    return { url: this.running.baseUrl, api_key: this.kept?.apiKey ?? '' };
  }

  async stop(): Promise<void> {
    const running = this.running;
    this.running = undefined;
    await running?.app.stop();
  }
}

async function jsonBody(request: IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const chunk of request) text += String(chunk);
  const parsed: unknown = text === '' ? {} : JSON.parse(text);
  return typeof parsed === 'object' && parsed !== null ? { ...parsed } : {};
}

async function subscribe(harness: BillingHarness, customerId: unknown): Promise<object> {
  if (typeof customerId !== 'string' || customerId === '')
    throw new Error('customer_id is required');
  const customer = await harness.linkCustomer(customerId);
  const subscription = makeSubscription({
    customer,
    status: 'active',
    items: [{ price: 'price_pro_monthly', product: 'prod_pro', quantity: 1 }],
  });
  const answer = await harness.post(
    makeEvent({
      type: 'customer.subscription.created',
      object: subscription,
      created: nowSeconds(),
    }),
  );
  if (answer.status !== 200) throw new Error(`the webhook was answered ${answer.status}`);
  return { status: answer.status };
}

export async function startClientControl(harness: BillingHarness): Promise<ClientControl> {
  const restartable = new RestartableService();
  const routes: Record<string, (body: Record<string, unknown>) => Promise<object>> = {
    '/webhooks/subscription': (body) => subscribe(harness, body.customer_id),
    '/restartable/start': () => restartable.start(),
    '/restartable/stop': async () => {
      await restartable.stop();
      return {};
    },
  };
  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const route = request.method === 'POST' ? routes[request.url ?? ''] : undefined;
    if (route === undefined) {
      response.writeHead(404).end();
      return;
    }
    try {
      const answer = await route(await jsonBody(request));
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    } catch (error) {
      response.writeHead(500).end(error instanceof Error ? error.message : String(error));
    }
  };
  const server = createServer((request, response) => void handle(request, response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await restartable.stop();
    },
  };
}
