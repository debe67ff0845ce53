/**
 * A product's webhook receiver on loopback, for the outbound webhook tests:
 * it records every request per path, answers as a test tells it (a status,
 * or held until the test releases it), and lets a test wait for a request
 * that matches (a signal, not a time).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedHook {
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  /** What the receiver answered (0 while held). */
  status: number;
}

/** How a path answers its nth request (1-based): a status, or 'hold' until released. */
export type HookPolicy = (nth: number) => number | 'hold';

interface Waiter {
  readonly matches: (hook: ReceivedHook) => boolean;
  readonly resolve: (hook: ReceivedHook) => void;
}

export class WebhookReceiver {
  readonly received: ReceivedHook[] = [];
  private readonly policies = new Map<string, HookPolicy>();
  private readonly counts = new Map<string, number>();
  private readonly held: Array<{ hook: ReceivedHook; response: ServerResponse }> = [];
  private waiters: Waiter[] = [];

  private constructor(private readonly server: Server) {}

  static async start(): Promise<WebhookReceiver> {
    const server = createServer();
    const receiver = new WebhookReceiver(server);
    server.on('request', (request, response) => receiver.handle(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The URL of `path` (default policy: 200). */
  url(path: string, policy?: HookPolicy): string {
    if (policy) this.policies.set(path, policy);
    return `http://127.0.0.1:${this.port}${path}`;
  }

  setPolicy(path: string, policy: HookPolicy): void {
    this.policies.set(path, policy);
  }

  on(path: string): ReceivedHook[] {
    return this.received.filter((hook) => hook.path === path);
  }

  /** The first request (already received or to come) that `matches`. */
  next(matches: (hook: ReceivedHook) => boolean): Promise<ReceivedHook> {
    const seen = this.received.find(matches);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ matches, resolve }));
  }

  /** Answers every held request of `path` with `status`. */
  release(path: string, status = 200): void {
    for (const entry of this.held.filter((h) => h.hook.path === path)) {
      entry.hook.status = status;
      entry.response.writeHead(status).end();
    }
    this.held.splice(0, this.held.length, ...this.held.filter((h) => h.hook.path !== path));
  }

  async close(): Promise<void> {
    for (const entry of this.held) entry.response.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '/';
      const nth = (this.counts.get(path) ?? 0) + 1;
      this.counts.set(path, nth);
      const answer = (this.policies.get(path) ?? (() => 200))(nth);
      const hook: ReceivedHook = {
        path,
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        status: answer === 'hold' ? 0 : answer,
      };
      this.received.push(hook);
      if (answer === 'hold') this.held.push({ hook, response });
      else response.writeHead(answer).end();
      this.notify(hook);
    });
  }

  private notify(hook: ReceivedHook): void {
    const matched = this.waiters.filter((waiter) => waiter.matches(hook));
    this.waiters = this.waiters.filter((waiter) => !waiter.matches(hook));
    for (const waiter of matched) waiter.resolve(hook);
  }
}

/** The event a request carried (Stripe's event shape). */
export interface HookEvent {
  readonly id: string;
  readonly type: string;
  readonly created: number;
  readonly project_id: string;
  readonly data: { readonly object: Record<string, unknown> };
}

export function eventOf(hook: ReceivedHook): HookEvent {
  return JSON.parse(hook.body) as HookEvent;
}
