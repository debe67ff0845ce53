/**
 * Customer tokens: short-lived, signed, for one customer of one project,
 * issued by one API key. A browser holding one may read that customer's
 * entitlements and nothing else. Format: `ct_<payload>.<signature>`, both
 * base64url without padding; the payload is JSON {p: project, c: customer,
 * k: issuing key id, exp: unix seconds}; the signature is HMAC-SHA256 under a
 * key derived per project (HKDF of the configured secret with the project id),
 * so a token never verifies for another project and no stored key signs for
 * all. Verification accepts any configured secret (rotation), and only the
 * canonical encoding: base64url's last character carries unused bits, and
 * accepting its variants would let one token have four spellings.
 * Pure: the clock comes in as a parameter.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

export interface CustomerTokenClaims {
  readonly projectId: string;
  readonly customerId: string;
  /** The API key that issued the token: revoking it ends the token. */
  readonly keyId: string;
  readonly expiresAt: Date;
}

export type TokenCheck =
  | { readonly ok: true; readonly claims: CustomerTokenClaims }
  | { readonly ok: false; readonly reason: 'malformed' | 'bad signature' | 'expired' };

const prefix = 'ct_';
const tokenPattern = /^ct_([A-Za-z0-9_-]{1,2048})\.([A-Za-z0-9_-]{43})$/;

export function isCustomerToken(bearer: string): boolean {
  return bearer.startsWith(prefix);
}

export function signCustomerToken(claims: CustomerTokenClaims, secret: string): string {
  const payload = Buffer.from(
    JSON.stringify({
      p: claims.projectId,
      c: claims.customerId,
      k: claims.keyId,
      exp: Math.floor(claims.expiresAt.getTime() / 1000),
    }),
  ).toString('base64url');
  return `${prefix}${payload}.${signature(payload, projectSigningKey(secret, claims.projectId))}`;
}

export function verifyCustomerToken(
  token: string,
  secrets: readonly string[],
  now: Date,
): TokenCheck {
  const match = tokenPattern.exec(token);
  if (!match?.[1] || !match[2] || !isCanonical(match[1])) return { ok: false, reason: 'malformed' };
  const [payload, given] = [match[1], Buffer.from(match[2], 'ascii')];
  // The claims are read before the signature is checked only to know which
  // project's key to check it with; nothing else is trusted until it verifies.
  const claims = parseClaims(payload);
  if (!claims) return { ok: false, reason: 'malformed' };
  // Comparing the encoded text (not the decoded bytes) accepts only the canonical spelling.
  const signedByUs = secrets.some((secret) => {
    const expected = Buffer.from(signature(payload, projectSigningKey(secret, claims.projectId)));
    return expected.length === given.length && timingSafeEqual(expected, given);
  });
  if (!signedByUs) return { ok: false, reason: 'bad signature' };
  if (claims.expiresAt.getTime() <= now.getTime()) return { ok: false, reason: 'expired' };
  return { ok: true, claims };
}

/** HKDF-SHA256: one independent key per project from each configured secret. */
function projectSigningKey(secret: string, projectId: string): Buffer {
  return Buffer.from(
    hkdfSync('sha256', secret, 'billing customer token v1', `project:${projectId}`, 32),
  );
}

function signature(payload: string, key: Buffer): string {
  return createHmac('sha256', key).update(payload).digest('base64url');
}

function isCanonical(encoded: string): boolean {
  return Buffer.from(encoded, 'base64url').toString('base64url') === encoded;
}

function parseClaims(payload: string): CustomerTokenClaims | undefined {
  try {
    const value = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<
      string,
      unknown
    >;
    if (
      typeof value.p !== 'string' ||
      typeof value.c !== 'string' ||
      typeof value.k !== 'string' ||
      typeof value.exp !== 'number'
    )
      return undefined;
    return {
      projectId: value.p,
      customerId: value.c,
      keyId: value.k,
      expiresAt: new Date(value.exp * 1000),
    };
  } catch {
    return undefined;
  }
}
