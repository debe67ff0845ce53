/**
 * The HTTP side of OFREP (`/ofrep/v1/evaluate/flags[/{key}]`): POST only,
 * the body read up to a limit, credentials from `Authorization: Bearer` or
 * `X-API-Key`, and the answer written as JSON. What the answer is belongs
 * to the API layer (src/api/ofrep.ts), handed in by the composition root.
 */
import type { NodeRequest } from '../node-http.js';
import { type OfrepRoute, sendJson } from './http-routes.js';
import { readBody } from './request-body.js';

export interface OfrepHttpCall {
  readonly flagKey: string | undefined;
  readonly credentials: string | undefined;
  readonly ifNoneMatch: string | undefined;
  readonly body: Buffer;
}

export interface OfrepHttpAnswer {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: unknown;
}

export type OfrepAnswerer = (call: OfrepHttpCall) => Promise<OfrepHttpAnswer>;

export function createOfrepRoute(answer: OfrepAnswerer, maxBodyBytes: number): OfrepRoute {
  return async (flagKey, req, res) => {
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' });
      res.end();
      return;
    }
    const body = await readBody(req, maxBodyBytes);
    if (body === 'too large') {
      sendJson(res, 413, { errorDetails: `body larger than ${maxBodyBytes} bytes` });
      req.destroy();
      return;
    }
    const answered = await answer({
      flagKey,
      credentials: credentialsOf(req),
      ifNoneMatch: headerOf(req, 'if-none-match'),
      body,
    });
    if (answered.body === undefined) {
      res.writeHead(answered.status, { ...answered.headers });
      res.end();
      return;
    }
    const payload = JSON.stringify(answered.body);
    res.writeHead(answered.status, {
      ...answered.headers,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(payload),
    });
    res.end(payload);
  };
}

function credentialsOf(req: NodeRequest): string | undefined {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(headerOf(req, 'authorization') ?? '')?.[1];
  return bearer ?? headerOf(req, 'x-api-key')?.trim() ?? undefined;
}

function headerOf(req: NodeRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}
