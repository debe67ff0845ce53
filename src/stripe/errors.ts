/**
 * Stripe SDK errors to gRPC status codes. Stripe's messages name the bad
 * parameter and never a secret, so they are passed on to the caller.
 */
import { Code, ConnectError } from '@connectrpc/connect';

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
