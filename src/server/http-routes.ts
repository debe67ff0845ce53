/**
 * The plain HTTP endpoints on the RPC port: liveness, readiness, Prometheus
 * (the registry given here has no tenant figures: those are on the metrics
 * listener), the pages given (/demo). Anything the Connect router does not
 * know lands here.
 */
import type { Registry } from 'prom-client';
import type { Logger } from '../logger.js';
import type { NodeHandler, NodeRequest, NodeResponse } from '../node-http.js';

export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: Readonly<Record<string, boolean>>;
}

export type WebhookRoute = (
  projectId: string,
  req: NodeRequest,
  res: NodeResponse,
) => Promise<void>;

/** `flagKey` undefined: the bulk endpoint (./ofrep-route.ts). */
export type OfrepRoute = (
  flagKey: string | undefined,
  req: NodeRequest,
  res: NodeResponse,
) => Promise<void>;

export interface HttpRoutesOptions {
  readonly readiness: () => Promise<ReadinessReport>;
  readonly registry: Registry;
  readonly isShuttingDown: () => boolean;
  /** POST /webhooks/stripe/{project}. */
  readonly stripeWebhook: WebhookRoute;
  /** POST /ofrep/v1/evaluate/flags and /ofrep/v1/evaluate/flags/{key}; absent: 404. */
  readonly ofrep?: OfrepRoute;
  /** Every 500 answer is logged with its route and error. */
  readonly logger: Logger;
  /** More routes by exact path (the /demo page and its script). */
  readonly pages?: Readonly<Record<string, Route>>;
}

const stripeWebhookPath = /^\/webhooks\/stripe\/([A-Za-z0-9_-]{1,64})$/;
const ofrepBulkPath = '/ofrep/v1/evaluate/flags';
/** The key may hold a slash (`feature/limit`), sent as is or percent-encoded. */
const ofrepFlagPath = /^\/ofrep\/v1\/evaluate\/flags\/(.+)$/;

export function createHttpRoutes(options: HttpRoutesOptions): NodeHandler {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const respond = routeFor(path, options);
    if (!respond) {
      sendJson(res, 404, { error: 'not found' });
      return;
    }
    respond(req, res).catch((error: unknown) => {
      options.logger.error('http request failed', { method: req.method, path, error });
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
    });
  };
}

export type Route = (req: NodeRequest, res: NodeResponse) => Promise<void>;

function routeFor(path: string | undefined, options: HttpRoutesOptions): Route | undefined {
  const webhookProject = stripeWebhookPath.exec(path ?? '')?.[1];
  if (webhookProject) return (req, res) => options.stripeWebhook(webhookProject, req, res);
  const ofrep = options.ofrep;
  if (ofrep && path === ofrepBulkPath) return (req, res) => ofrep(undefined, req, res);
  const flagKey = ofrep && ofrepFlagPath.exec(path ?? '')?.[1];
  if (ofrep && flagKey) return (req, res) => ofrep(decodedKey(flagKey), req, res);
  switch (path) {
    case '/healthz':
      // Liveness: the process answers. Dependencies belong to /readyz.
      return async (_req, res) => sendJson(res, 200, { status: 'ok' });
    case '/readyz':
      return async (_req, res) => {
        const report = await options.readiness();
        const ready = report.ready && !options.isShuttingDown();
        sendJson(res, ready ? 200 : 503, {
          status: ready ? 'ready' : 'unready',
          checks: report.checks,
        });
      };
    case '/metrics':
      return async (_req, res) => {
        const body = await options.registry.metrics();
        res.writeHead(200, { 'content-type': options.registry.contentType });
        res.end(body);
      };
    default:
      return path === undefined ? undefined : options.pages?.[path];
  }
}

export function sendJson(res: NodeResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

/** A malformed escape is kept as sent: it names no flag, so the answer is FLAG_NOT_FOUND. */
function decodedKey(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}
