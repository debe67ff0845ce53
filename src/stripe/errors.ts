/**
 * What a Stripe SDK error means, in the domain's vocabulary (the status codes
 * are chosen in src/api/errors.ts). Stripe's messages name the bad parameter
 * and never a secret, so they are passed on to the caller.
 */
import {
  DependencyUnavailableError,
  type DomainError,
  FailedPreconditionError,
  InvalidInputError,
} from '../domain/errors.js';

interface StripeErrorShape {
  readonly type: string;
  readonly message: string;
  readonly param?: string;
}

/** The SDK's errors carry a `type` such as `StripeCardError`; matched by shape, not class. */
function isStripeError(err: unknown): err is StripeErrorShape {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { type?: unknown }).type === 'string' &&
    (err as { type: string }).type.startsWith('Stripe')
  );
}

const keyRefusedTypes = new Set(['StripeAuthenticationError', 'StripePermissionError']);
const preconditionTypes = new Set(['StripeCardError', 'StripeIdempotencyError']);

/** The domain error a Stripe SDK error stands for; undefined when `err` is not one. */
export function classifyStripeError(err: unknown): DomainError | undefined {
  if (!isStripeError(err)) return undefined;
  if (keyRefusedTypes.has(err.type))
    return new FailedPreconditionError("stripe rejected the project's secret key", { cause: err });
  const message = `stripe: ${err.message}${err.param ? ` (${err.param})` : ''}`;
  if (err.type === 'StripeInvalidRequestError')
    return new InvalidInputError(message, { field: err.param, cause: err });
  if (preconditionTypes.has(err.type)) return new FailedPreconditionError(message, { cause: err });
  // StripeConnectionError, StripeAPIError, StripeRateLimitError: a retry may get past them;
  // so may a type this SDK version does not name.
  return new DependencyUnavailableError('stripe', {
    message: 'stripe is unavailable; retry later',
    cause: err,
  });
}
