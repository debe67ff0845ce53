/**
 * What any thrown value means, in the domain's vocabulary: the one
 * classification the API's status codes (src/api/errors.ts) and the webhook
 * path's give-up rule (src/stripe/event-processor.ts) share. It walks the
 * `cause` chain, since wrappers keep the original there, and knows each
 * dependency's own errors: Stripe's SDK, MongoDB's driver, and sockets.
 * Undefined means nothing recognised it: a bug, or a failure nobody named.
 */
import {
  DependencyUnavailableError,
  type DomainError,
  findInCauses,
  isDependencyUnavailableError,
  isDomainError,
} from './domain/errors.js';
import { isMongoUnreachable } from './store/errors.js';
import { classifyStripeError } from './stripe/errors.js';

/** Socket errors of any client (MongoDB, Redis, Stripe's HTTP), as connect-node's node-error.ts reads them. */
const unreachableSocketCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE']);

export function classifyFailure(err: unknown): DomainError | undefined {
  return findInCauses(err, classifyOne);
}

/** Whether a dependency was down (Stripe, MongoDB, the network), so a retry may well succeed. */
export function isDependencyDown(err: unknown): boolean {
  return isDependencyUnavailableError(classifyFailure(err));
}

function classifyOne(err: unknown): DomainError | undefined {
  if (isDomainError(err)) return err;
  const fromStripe = classifyStripeError(err);
  if (fromStripe) return fromStripe;
  if (isMongoUnreachable(err)) return new DependencyUnavailableError('mongodb', { cause: err });
  const code =
    typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  if (typeof code === 'string' && unreachableSocketCodes.has(code))
    return new DependencyUnavailableError('network', { cause: err });
  return undefined;
}
