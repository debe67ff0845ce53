/**
 * The HTTP side of `/v1/...`: API key (401 without one or with a wrong
 * one), injected failures, form decoding, idempotency keys (a POST with a
 * seen `Idempotency-Key` replays the first answer; other parameters are
 * Stripe's `idempotency_error`), routing, and Stripe's error bodies.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Account } from '../objects/account.js';
import type { EmitEvent, HostedPageUrls } from '../objects/context.js';
import { STRIPE_API_VERSION, stripeId } from '../objects/stripe-objects.js';
import { ApiError, invalid } from './errors.js';
import { decodeComponent, type FormValue, Params, parseForm } from './form.js';
import { findRoute } from './routes.js';

export interface ApiRequestRecord {
  readonly method: string;
  /** The path without the query string, e.g. `/v1/subscriptions`. */
  readonly path: string;
  /** The raw query string, without `?` (GET parameters). */
  readonly query: string;
  /** The API key the request carried (`null` if none). */
  readonly apiKey: string | null;
  readonly idempotencyKey: string | null;
  /** The HTTP status answered (0 for a dropped connection). */
  readonly status: number;
}

/** How an injected failure answers: an HTTP status (500, 503, 429, ...) or a dropped connection. */
export type InjectedFailure = number | 'disconnect';

/** A gate the next API request waits at (holdNext). */
export interface RequestGate {
  /** Called when the request has arrived at the gate. */
  arrived(): void;
  /** The request goes on once this resolves. */
  readonly released: Promise<void>;
}

export interface StripeApiDeps {
  isValidKey(key: string): boolean;
  accountFor(key: string): Account;
  now(): number;
  readonly emit: EmitEvent;
  readonly pages: HostedPageUrls;
  readonly requestLog: ApiRequestRecord[];
  readonly failures: InjectedFailure[];
  readonly gates: RequestGate[];
  /** After every answered POST or DELETE: save state, send the webhooks it emitted. */
  afterChange(): void;
}

export function apiKeyOf(request: IncomingMessage): string | null {
  const header = request.headers.authorization;
  if (header === undefined) return null;
  const bearer = /^Bearer\s+(.+)$/i.exec(header);
  if (bearer?.[1] !== undefined) return bearer[1].trim();
  const basic = /^Basic\s+(.+)$/i.exec(header);
  if (basic?.[1] !== undefined) {
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    return decoded.split(':')[0] ?? null;
  }
  return null;
}

function redact(key: string): string {
  return `${key.slice(0, 8)}${'*'.repeat(Math.max(0, key.length - 12))}${key.slice(-4)}`;
}

function canonical(value: FormValue): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k] ?? '')}`).join(',')}}`;
}

export async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  }
  return Buffer.concat(chunks).toString('utf8');
}

function failureError(failure: number): ApiError {
  if (failure === 429) {
    return new ApiError(
      429,
      'invalid_request_error',
      'Too many requests hit the API too quickly.',
      'rate_limit',
    );
  }
  const message =
    failure === 503
      ? 'Stripe is temporarily unavailable (sandbox failNext).'
      : 'An unknown error occurred (sandbox failNext).';
  return new ApiError(failure, 'api_error', message);
}

function keyError(apiKey: string | null): ApiError {
  if (apiKey === null || apiKey === '') {
    return new ApiError(
      401,
      'invalid_request_error',
      'You did not provide an API key. You need to provide your API key in the ' +
        "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
    );
  }
  return new ApiError(
    401,
    'invalid_request_error',
    `Invalid API Key provided: ${redact(apiKey)}`,
    'api_key_invalid',
  );
}

export function createStripeApi(
  deps: StripeApiDeps,
): (request: IncomingMessage, response: ServerResponse) => Promise<void> {
  return async (request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const method = request.method ?? 'GET';
    const apiKey = apiKeyOf(request);
    const idempotencyHeader = request.headers['idempotency-key'];
    const idempotencyKey = typeof idempotencyHeader === 'string' ? idempotencyHeader : null;
    const body = await readBody(request);
    const gate = deps.gates.shift();
    if (gate !== undefined) {
      gate.arrived();
      await gate.released;
    }
    const log = (status: number): void => {
      deps.requestLog.push({
        method,
        path: url.pathname,
        query: url.search.replace(/^\?/, ''),
        apiKey,
        idempotencyKey,
        status,
      });
    };
    const requestId = stripeId('req_', 14);
    const send = (status: number, json: string, extra: Record<string, string> = {}): void => {
      log(status);
      response.writeHead(status, {
        'content-type': 'application/json',
        'request-id': requestId,
        'stripe-version': STRIPE_API_VERSION,
        ...(idempotencyKey === null ? {} : { 'idempotency-key': idempotencyKey }),
        ...extra,
      });
      response.end(json);
    };
    const sendError = (error: ApiError): void => send(error.status, JSON.stringify(error));

    const failure = deps.failures.shift();
    if (failure === 'disconnect') {
      log(0);
      request.socket.destroy();
      return;
    }
    if (failure !== undefined) return sendError(failureError(failure));
    if (apiKey === null || apiKey === '' || !deps.isValidKey(apiKey)) {
      return sendError(keyError(apiKey));
    }
    const account = deps.accountFor(apiKey);
    try {
      const result = answer(deps, account, { method, url, body, idempotencyKey, request });
      if (result.replayed) {
        send(result.status, result.body, { 'idempotent-replayed': 'true' });
        return;
      }
      send(200, result.body);
    } catch (error) {
      if (error instanceof ApiError) {
        sendError(error);
      } else {
        const message = error instanceof Error ? error.message : String(error);
        sendError(new ApiError(500, 'api_error', `Sandbox failed: ${message}`));
      }
    } finally {
      if (method !== 'GET') deps.afterChange();
    }
  };
}

interface ApiCall {
  readonly method: string;
  readonly url: URL;
  readonly body: string;
  readonly idempotencyKey: string | null;
  readonly request: IncomingMessage;
}

function answer(
  deps: StripeApiDeps,
  account: Account,
  call: ApiCall,
): { status: number; body: string; replayed: boolean } {
  const { method, url, body, idempotencyKey } = call;
  const contentType = call.request.headers['content-type'] ?? '';
  if (
    method === 'POST' &&
    body !== '' &&
    !contentType.startsWith('application/x-www-form-urlencoded')
  ) {
    throw invalid(
      `Invalid request: unsupported Content-Type ${contentType}. ` +
        'If error persists and you need assistance, please contact support@stripe.com.',
    );
  }
  const form = parseForm(method === 'GET' || method === 'DELETE' ? url.search.slice(1) : body);
  const fingerprint = `${method} ${url.pathname} ${canonical(form)}`;
  if (method === 'POST' && idempotencyKey !== null) {
    const stored = account.idempotent.get(idempotencyKey);
    if (stored !== undefined) {
      if (stored.fingerprint !== fingerprint) {
        throw new ApiError(
          400,
          'idempotency_error',
          'Keys for idempotent requests can only be used with the same parameters they ' +
            `were first used with. Try using a key other than '${idempotencyKey}' if you ` +
            'meant to execute a different request.',
        );
      }
      return { status: stored.status, body: stored.body, replayed: true };
    }
  }
  const route = findRoute(method, url.pathname);
  if (route === null) {
    throw new ApiError(
      404,
      'invalid_request_error',
      `Unrecognized request URL (${method}: ${url.pathname}). Please see ` +
        'https://stripe.com/docs or we can help at https://support.stripe.com/.',
    );
  }
  const result = route.handler({
    account,
    params: new Params(form),
    id: decodeComponent(route.id),
    now: deps.now(),
    emit: deps.emit,
    pages: deps.pages,
  });
  const json = JSON.stringify(result);
  if (method === 'POST' && idempotencyKey !== null) {
    account.idempotent.set(idempotencyKey, { fingerprint, status: 200, body: json });
  }
  return { status: 200, body: json, replayed: false };
}
