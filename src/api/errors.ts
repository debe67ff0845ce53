/**
 * The one place that maps failures to gRPC status codes. Handlers throw
 * ConnectError for client mistakes; anything else lands here: Stripe's
 * errors by their type, a dependency that cannot be reached is UNAVAILABLE,
 * everything else INTERNAL with a generic message (details go to the log,
 * never to the caller).
 */
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { MongoNetworkError, MongoNotConnectedError, MongoServerSelectionError } from 'mongodb';
import type { Logger } from '../logger.js';
import { stripeErrorToConnect } from '../stripe/errors.js';

export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  const fromStripe = stripeErrorToConnect(err);
  if (fromStripe) return fromStripe;
  if (isUnavailable(err))
    return new ConnectError('a dependency is unavailable; retry later', Code.Unavailable);
  return new ConnectError('internal error', Code.Internal);
}

function isUnavailable(err: unknown): boolean {
  if (
    err instanceof MongoNetworkError ||
    err instanceof MongoServerSelectionError ||
    err instanceof MongoNotConnectedError
  ) {
    return true;
  }
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ETIMEDOUT';
}

export function createErrorInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (err) {
      const mapped = toConnectError(err);
      if (mapped !== err) logFailure(logger, req.url, mapped, err);
      throw mapped;
    }
  };
}

/** Unknown failures are errors; a dependency down is a warning; client mistakes are noise. */
function logFailure(logger: Logger, procedure: string, mapped: ConnectError, cause: unknown): void {
  const fields = { procedure, code: Code[mapped.code], error: cause };
  if (mapped.code === Code.Internal) logger.error('rpc failed', fields);
  else if (mapped.code === Code.Unavailable)
    logger.warn('rpc failed: dependency unavailable', fields);
  else logger.debug('rpc refused', fields);
}
