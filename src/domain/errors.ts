/**
 * The errors domain and services throw, by what went wrong rather than by
 * protocol: the API maps each kind to a status code in one place
 * (src/api/errors.ts). Messages are for the caller; never put a secret in one.
 */

export type DomainErrorKind =
  | 'invalid_input'
  | 'not_found'
  | 'failed_precondition'
  | 'conflict'
  | 'dependency_unavailable';

export abstract class DomainError extends Error {
  abstract readonly kind: DomainErrorKind;
}

/** The input breaks a rule; `field` names it when the rule is about one field. */
export class InvalidInputError extends DomainError {
  override readonly name = 'InvalidInputError';
  readonly kind = 'invalid_input';
  readonly field: string | undefined;
  constructor(message: string, options: { field?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.field = options.field;
  }
}

/** The thing a use case needs does not exist (or belongs to another project). */
export class NotFoundError extends DomainError {
  override readonly name = 'NotFoundError';
  readonly kind = 'not_found';
  /** What is missing, e.g. `grant gr_123`. */
  readonly what: string;
  constructor(what: string) {
    super(`${what} not found`);
    this.what = what;
  }
}

/** The request is fine but the state it needs is not there yet; the message says why. */
export class FailedPreconditionError extends DomainError {
  override readonly name = 'FailedPreconditionError';
  readonly kind = 'failed_precondition';
}

/** Another call got there first (a reconciliation starting): retrying later may succeed. */
export class ConflictError extends DomainError {
  override readonly name = 'ConflictError';
  readonly kind = 'conflict';
}

/** A dependency the service needs is down or busy; `cause` keeps the original error. */
export class DependencyUnavailableError extends DomainError {
  override readonly name = 'DependencyUnavailableError';
  readonly kind = 'dependency_unavailable';
  readonly dependency: string;
  constructor(dependency: string, options: { message?: string; cause?: unknown } = {}) {
    super(options.message ?? 'a dependency is unavailable; retry later', {
      cause: options.cause,
    });
    this.dependency = dependency;
  }
}

/** A type guard per class, as protobuf-es has them: `isNotFoundError(err): err is NotFoundError`. */
function guardOf<T>(errorClass: abstract new (...args: never[]) => T): (err: unknown) => err is T {
  return (err: unknown): err is T => err instanceof errorClass;
}

export const isDomainError = guardOf(DomainError);
export const isInvalidInputError = guardOf(InvalidInputError);
export const isNotFoundError = guardOf(NotFoundError);
export const isFailedPreconditionError = guardOf(FailedPreconditionError);
export const isConflictError = guardOf(ConflictError);
export const isDependencyUnavailableError = guardOf(DependencyUnavailableError);

/** How many errors of a cause chain are looked at; real wrappers nest two or three. */
export const maxCauseDepth = 5;

/**
 * The first answer `pick` gives along the `cause` chain, starting with `err`
 * itself; bounded, so a cycle of causes cannot loop.
 */
export function findInCauses<T>(
  err: unknown,
  pick: (candidate: unknown) => T | undefined,
): T | undefined {
  let current = err;
  for (let depth = 0; depth < maxCauseDepth && current != null; depth++) {
    const found = pick(current);
    if (found !== undefined) return found;
    if (typeof current !== 'object') return undefined;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
