/**
 * Stripe SDK errors to gRPC status codes. Stripe's messages name the bad
 * parameter and never a secret, so they are passed on to the caller.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import { isMongoUnreachable } from '../store/errors.js';

interface StripeErrorShape {
  readonly type: string;
  readonly message: string;
  readonly param?: string;
}

function isStripeError(err: unknown): err is StripeErrorShape {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { type?: unknown }).type === 'string' &&
    (err as { type: string }).type.startsWith('Stripe')
  );
}

const codeByType: Readonly<Record<string, Code>> = {
  StripeInvalidRequestError: Code.InvalidArgument,
  StripeCardError: Code.FailedPrecondition,
  StripeIdempotencyError: Code.FailedPrecondition,
  StripeAuthenticationError: Code.FailedPrecondition,
  StripePermissionError: Code.FailedPrecondition,
  StripeRateLimitError: Code.Unavailable,
  StripeConnectionError: Code.Unavailable,
  StripeAPIError: Code.Unavailable,
};

export function stripeErrorToConnect(err: unknown): ConnectError | undefined {
  if (!isStripeError(err)) return undefined;
  const code = codeByType[err.type] ?? Code.Unavailable;
  if (err.type === 'StripeAuthenticationError' || err.type === 'StripePermissionError') {
    return new ConnectError("stripe rejected the project's secret key", code);
  }
  if (code === Code.Unavailable)
    return new ConnectError('stripe is unavailable; retry later', code);
  const param = err.param ? ` (${err.param})` : '';
  return new ConnectError(`stripe: ${err.message}${param}`, code);
}

/** Stripe errors a later retry can get past: Stripe itself was down or busy. */
const transientStripeTypes = new Set([
  'StripeConnectionError',
  'StripeAPIError',
  'StripeRateLimitError',
]);

const transientSocketCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE']);

/**
 * Whether a webhook failure came from a dependency that was down (Stripe,
 * MongoDB, the network), so Stripe's next delivery may well succeed. Anything
 * else (a malformed object, a refused write) fails the same way each time.
 * Walks the cause chain, since wrappers keep the original as `cause`.
 */
export function isDependencyDown(err: unknown): boolean {
  for (let current = err, depth = 0; current && depth < 5; depth++) {
    if (typeof current !== 'object') return false;
    const { type, code, cause } = current as {
      type?: unknown;
      code?: unknown;
      cause?: unknown;
    };
    if (typeof type === 'string' && transientStripeTypes.has(type)) return true;
    if (isMongoUnreachable(current)) return true;
    if (typeof code === 'string' && transientSocketCodes.has(code)) return true;
    current = cause;
  }
  return false;
}
