/**
 * The one place that maps failures to gRPC status codes. The API layer
 * throws ConnectError only for the request's own faults (validation,
 * authentication, idempotency keys); anything else is classified
 * (src/failure-classification.ts: domain errors, Stripe's and MongoDB's
 * errors, sockets, along the cause chain) and answered by its kind. What
 * nobody recognised is INTERNAL with a generic message: details go to the
 * log, never to the caller.
 */
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import type { DomainErrorKind } from '../domain/errors.js';
import { classifyFailure } from '../failure-classification.js';
import type { Logger } from '../logger.js';

const codeByKind: Readonly<Record<DomainErrorKind, Code>> = {
  invalid_input: Code.InvalidArgument,
  not_found: Code.NotFound,
  failed_precondition: Code.FailedPrecondition,
  conflict: Code.Aborted,
  dependency_unavailable: Code.Unavailable,
};

export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  const failure = classifyFailure(err);
  if (failure) return new ConnectError(failure.message, codeByKind[failure.kind]);
  return new ConnectError('internal error', Code.Internal);
}

export function createErrorInterceptor(logger: Logger): Interceptor {
  const mapped = (err: unknown, procedure: string): ConnectError => {
    const connectError = toConnectError(err);
    if (connectError !== err) logFailure(logger, procedure, connectError, err);
    return connectError;
  };
  return (next) => async (req) => {
    try {
      const res = await next(req);
      // A stream fails while it is read, after `next` has returned.
      if (res.stream) return { ...res, message: mapStreamErrors(res.message, req, mapped) };
      return res;
    } catch (err) {
      throw mapped(err, req.url);
    }
  };
}

async function* mapStreamErrors<T>(
  messages: AsyncIterable<T>,
  req: { readonly url: string; readonly signal: AbortSignal },
  mapped: (err: unknown, procedure: string) => ConnectError,
): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (err) {
    // The caller left or the server is shutting down: nobody reads the answer.
    if (req.signal.aborted) throw err;
    throw mapped(err, req.url);
  }
}

/** Unknown failures are errors; a dependency down is a warning; client mistakes are noise. */
function logFailure(logger: Logger, procedure: string, mapped: ConnectError, cause: unknown): void {
  const fields = { procedure, code: Code[mapped.code], error: cause };
  if (mapped.code === Code.Internal) logger.error('rpc failed', fields);
  else if (mapped.code === Code.Unavailable)
    logger.warn('rpc failed: dependency unavailable', fields);
  else logger.debug('rpc refused', fields);
}
