/**
 * CORS for browsers calling Connect and gRPC-Web (the demo page, pricing
 * pages, apps with a customer token). Only configured origins get the
 * headers; a preflight from any other origin gets no CORS headers, and the
 * browser refuses the call.
 */
import { cors as connectCors } from '@connectrpc/connect';
import type { NodeHandler, NodeRequest, NodeResponse } from '../node-http.js';

const allowedHeaders = [...connectCors.allowedHeaders, 'Authorization'].join(', ');
const exposedHeaders = [...connectCors.exposedHeaders, 'Idempotent-Replayed'].join(', ');
const allowedMethods = connectCors.allowedMethods.join(', ');

export function withCors(handler: NodeHandler, allowedOrigins: readonly string[]): NodeHandler {
  if (allowedOrigins.length === 0) return handler;
  const anyOrigin = allowedOrigins.includes('*');
  return (req, res) => {
    const origin = req.headers.origin;
    const allowed = typeof origin === 'string' && (anyOrigin || allowedOrigins.includes(origin));
    if (allowed) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Vary', 'Origin');
      res.setHeader('Access-Control-Expose-Headers', exposedHeaders);
    }
    if (isPreflight(req)) {
      answerPreflight(res, allowed);
      return;
    }
    handler(req, res);
  };
}

function isPreflight(req: NodeRequest): boolean {
  return req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
}

function answerPreflight(res: NodeResponse, allowed: boolean): void {
  if (allowed) {
    res.setHeader('Access-Control-Allow-Methods', allowedMethods);
    res.setHeader('Access-Control-Allow-Headers', allowedHeaders);
    res.setHeader('Access-Control-Max-Age', '7200');
  }
  res.writeHead(204);
  res.end();
}
