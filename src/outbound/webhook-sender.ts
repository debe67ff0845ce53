/**
 * Sends one outbound webhook: a POST of the event's JSON to the endpoint,
 * answered within a timeout. Only a 2xx counts as delivered; a redirect is
 * not followed (as Stripe does not), and the body of the answer is read
 * (at most a few KB) only to free the connection.
 *
 * The endpoint's URL was checked when it was written; it is checked again
 * here (the allow-list may have changed), and every address its host name
 * resolves to must be public unless the host is allowed: the connection is
 * made to the address checked (the `lookup` hook), so a name that resolves
 * inward, or differently a moment later (DNS rebinding), is refused.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { endpointUrlRefusal, isAllowedHost, isPublicAddress } from '../domain/webhook-addresses.js';

export interface WebhookPost {
  readonly url: string;
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Aborts the attempt (the service is stopping). */
  readonly signal?: AbortSignal;
}

export interface WebhookAnswer {
  /** 0 when no answer came. */
  readonly statusCode: number;
  /** Empty after a 2xx; else why it failed. */
  readonly error: string;
  readonly durationMs: number;
}

export interface WebhookSenderOptions {
  readonly timeoutMs: number;
  readonly allowedHosts: ReadonlySet<string>;
  readonly userAgent: string;
}

const maxAnswerBytes = 4096;

export class WebhookSender {
  constructor(private readonly options: WebhookSenderOptions) {}

  async post(request: WebhookPost): Promise<WebhookAnswer> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const refusal = endpointUrlRefusal(request.url, this.options.allowedHosts);
    if (refusal !== undefined) {
      return { statusCode: 0, error: `refused: the URL ${refusal}`, durationMs: 0 };
    }
    try {
      const statusCode = await this.exchange(new URL(request.url), request);
      const ok = statusCode >= 200 && statusCode < 300;
      return { statusCode, error: ok ? '' : `answered HTTP ${statusCode}`, durationMs: elapsed() };
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return { statusCode: 0, error: message, durationMs: elapsed() };
    }
  }

  private exchange(url: URL, request: WebhookPost): Promise<number> {
    const client = url.protocol === 'https:' ? https : http;
    const allowed = isAllowedHost(url.hostname, this.options.allowedHosts);
    return new Promise<number>((resolve, reject) => {
      const outgoing = client.request(url, {
        method: 'POST',
        headers: {
          ...request.headers,
          'content-type': 'application/json; charset=utf-8',
          'content-length': String(Buffer.byteLength(request.body)),
          'user-agent': this.options.userAgent,
        },
        lookup: allowed ? undefined : publicOnlyLookup,
        signal: request.signal,
      });
      const timer = setTimeout(() => {
        outgoing.destroy(new Error(`no answer within ${this.options.timeoutMs} ms`));
      }, this.options.timeoutMs);
      outgoing.on('response', (answer) => {
        let read = 0;
        answer.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > maxAnswerBytes) answer.destroy();
        });
        const done = () => {
          clearTimeout(timer);
          resolve(answer.statusCode ?? 0);
        };
        answer.on('end', done);
        answer.on('close', done);
      });
      outgoing.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      outgoing.end(request.body);
    });
  }
}

/** dns.lookup, refusing names with any address that is not public. */
const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
    if (err) {
      callback(err, '', 0);
      return;
    }
    const inward = addresses.find((entry) => !isPublicAddress(entry.address));
    const first = addresses[0];
    if (inward !== undefined || first === undefined) {
      const refusal = new Error(
        `refused: ${hostname} resolves to ${inward?.address ?? 'nothing'}, not a public address`,
      );
      callback(refusal, '', 0);
      return;
    }
    if (options.all) callback(null, addresses);
    else callback(null, first.address, first.family);
  });
};
