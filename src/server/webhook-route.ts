/**
 * The HTTP side of POST /webhooks/stripe/{project}: the method, the body
 * size limit and the raw body (kept as bytes: the signature is computed on
 * them), then the Stripe shim decides the answer.
 */

import type { NodeRequest, NodeResponse } from '../node-http.js';
import { sendJson, type WebhookRoute } from './http-routes.js';
import { readBody } from './request-body.js';

/** What decides the answer to a delivery (the Stripe webhook shim, src/stripe/webhook-shim.ts). */
export type WebhookReceiver = (
  projectId: string,
  delivery: { readonly signature: string | undefined; readonly body: Buffer },
) => Promise<{ readonly status: number; readonly body: unknown }>;

export function createWebhookRoute(shim: WebhookReceiver, maxBodyBytes: number): WebhookRoute {
  return async (projectId, req, res) => {
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'use POST' });
    const body = await readBody(req, maxBodyBytes);
    if (body === 'too large') return refuseTooLarge(req, res, maxBodyBytes);
    const signature = req.headers['stripe-signature'];
    const answer = await shim(projectId, {
      signature: typeof signature === 'string' ? signature : undefined,
      body,
    });
    sendJson(res, answer.status, answer.body);
  };
}

function refuseTooLarge(req: NodeRequest, res: NodeResponse, maxBodyBytes: number): void {
  sendJson(res, 413, { error: `body larger than ${maxBodyBytes} bytes` });
  req.destroy();
}
