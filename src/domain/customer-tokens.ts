/**
 * Customer tokens: short-lived, signed, for one customer of one project.
 * A browser holding one may read that customer's entitlements and nothing
 * else. Format: `ct_<payload>.<signature>`, both base64url; the payload is
 * JSON {p: project, c: customer, exp: unix seconds}; the signature is
 * HMAC-SHA256 with the first configured secret. Verification accepts any
 * configured secret, so secrets can be rotated without cutting off tokens
 * already issued. Pure: the clock comes in as a parameter.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface CustomerTokenClaims {
  readonly projectId: string;
  readonly customerId: string;
  readonly expiresAt: Date;
}

export type TokenCheck =
  | { readonly ok: true; readonly claims: CustomerTokenClaims }
  | { readonly ok: false; readonly reason: 'malformed' | 'bad signature' | 'expired' };

const prefix = 'ct_';

export function isCustomerToken(bearer: string): boolean {
  return bearer.startsWith(prefix);
}

export function signCustomerToken(claims: CustomerTokenClaims, secret: string): string {
  const payload = Buffer.from(
    JSON.stringify({
      p: claims.projectId,
      c: claims.customerId,
      exp: Math.floor(claims.expiresAt.getTime() / 1000),
    }),
  ).toString('base64url');
  return `${prefix}${payload}.${signature(payload, secret)}`;
}

export function verifyCustomerToken(
  token: string,
  secrets: readonly string[],
  now: Date,
): TokenCheck {
  const match = /^ct_([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!match?.[1] || !match[2]) return { ok: false, reason: 'malformed' };
  const [payload, given] = [match[1], Buffer.from(match[2], 'base64url')];
  const signedByUs = secrets.some((secret) => {
    const expected = Buffer.from(signature(payload, secret), 'base64url');
    return expected.length === given.length && timingSafeEqual(expected, given);
  });
  if (!signedByUs) return { ok: false, reason: 'bad signature' };
  const claims = parseClaims(payload);
  if (!claims) return { ok: false, reason: 'malformed' };
  if (claims.expiresAt.getTime() <= now.getTime()) return { ok: false, reason: 'expired' };
  return { ok: true, claims };
}

function signature(payload: string, secret: string): string {
  return createHmac('sha256', secret).update(payload).digest('base64url');
}

function parseClaims(payload: string): CustomerTokenClaims | undefined {
  try {
    const value = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<
      string,
      unknown
    >;
    if (typeof value.p !== 'string' || typeof value.c !== 'string' || typeof value.exp !== 'number')
      return undefined;
    return { projectId: value.p, customerId: value.c, expiresAt: new Date(value.exp * 1000) };
  } catch {
    return undefined;
  }
}
