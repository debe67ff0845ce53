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

export function isDomainError(err: unknown): err is DomainError {
  return err instanceof DomainError;
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

export function isInvalidInputError(err: unknown): err is InvalidInputError {
  return err instanceof InvalidInputError;
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

export function isNotFoundError(err: unknown): err is NotFoundError {
  return err instanceof NotFoundError;
}

/** The request is fine but the state it needs is not there yet; the message says why. */
export class FailedPreconditionError extends DomainError {
  override readonly name = 'FailedPreconditionError';
  readonly kind = 'failed_precondition';
}

export function isFailedPreconditionError(err: unknown): err is FailedPreconditionError {
  return err instanceof FailedPreconditionError;
}

/** Another call got there first (a run starting, a lock held): retrying later may succeed. */
export class ConflictError extends DomainError {
  override readonly name = 'ConflictError';
  readonly kind = 'conflict';
}

export function isConflictError(err: unknown): err is ConflictError {
  return err instanceof ConflictError;
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

export function isDependencyUnavailableError(err: unknown): err is DependencyUnavailableError {
  return err instanceof DependencyUnavailableError;
}

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
