/** The domain's error vocabulary: each guard knows its own kind, and the cause walk is bounded. */
import test from 'ava';
import {
  ConflictError,
  DependencyUnavailableError,
  FailedPreconditionError,
  findInCauses,
  InvalidInputError,
  isConflictError,
  isDependencyUnavailableError,
  isDomainError,
  isFailedPreconditionError,
  isInvalidInputError,
  isNotFoundError,
  maxCauseDepth,
  NotFoundError,
} from '../../src/domain/errors.js';

const examples = [
  {
    error: new InvalidInputError('name: is required', { field: 'name' }),
    guard: isInvalidInputError,
  },
  { error: new NotFoundError('grant gr_1'), guard: isNotFoundError },
  { error: new FailedPreconditionError('no Stripe key'), guard: isFailedPreconditionError },
  { error: new ConflictError('a run is starting'), guard: isConflictError },
  { error: new DependencyUnavailableError('mongodb'), guard: isDependencyUnavailableError },
];

test('each guard accepts its own error and no other', (t) => {
  for (const { error, guard } of examples) {
    t.true(isDomainError(error), error.name);
    for (const other of examples) t.is(guard(other.error), other.error === error, error.name);
  }
});

test('guards refuse what is not a domain error', (t) => {
  for (const value of [new Error('x'), { kind: 'not_found' }, 'not_found', null, undefined]) {
    t.false(isDomainError(value));
    for (const { guard } of examples) t.false(guard(value));
  }
});

test('errors say what, why and which field or dependency', (t) => {
  t.is(new NotFoundError('grant gr_1').message, 'grant gr_1 not found');
  t.is(new NotFoundError('grant gr_1').what, 'grant gr_1');
  t.is(new InvalidInputError('name: is required', { field: 'name' }).field, 'name');
  t.is(new InvalidInputError('stripe: bad').field, undefined);
  const cause = new Error('connect ECONNREFUSED');
  const down = new DependencyUnavailableError('mongodb', { cause });
  t.is(down.dependency, 'mongodb');
  t.is(down.cause, cause);
  t.is(down.message, 'a dependency is unavailable; retry later');
  t.is(
    new DependencyUnavailableError('stripe', { message: 'stripe is down' }).message,
    'stripe is down',
  );
});

test('the kind of each error is fixed', (t) => {
  t.deepEqual(
    examples.map(({ error }) => error.kind),
    ['invalid_input', 'not_found', 'failed_precondition', 'conflict', 'dependency_unavailable'],
  );
});

/** An error wrapped `levels` times, each wrapper keeping the one below as its cause. */
function wrapped(inner: unknown, levels: number): unknown {
  let current = inner;
  for (let level = 0; level < levels; level++)
    current = new Error(`wrapper ${level}`, { cause: current });
  return current;
}

test('findInCauses finds the error itself or one in its cause chain', (t) => {
  const notFound = new NotFoundError('project');
  const pick = (e: unknown) => (isNotFoundError(e) ? e : undefined);
  t.is(findInCauses(notFound, pick), notFound);
  t.is(findInCauses(wrapped(notFound, 2), pick), notFound);
  t.is(findInCauses(wrapped(notFound, maxCauseDepth - 1), pick), notFound);
  t.is(findInCauses(new Error('plain'), pick), undefined);
});

test('findInCauses stops at the depth bound, at a cycle and at non-objects', (t) => {
  const pick = (e: unknown) => (isNotFoundError(e) ? e : undefined);
  t.is(findInCauses(wrapped(new NotFoundError('project'), maxCauseDepth), pick), undefined);
  const looping = new Error('a');
  const other = new Error('b', { cause: looping });
  looping.cause = other;
  let visited = 0;
  t.is(
    findInCauses(looping, () => {
      visited++;
      return undefined;
    }),
    undefined,
  );
  t.is(visited, maxCauseDepth);
  t.is(
    findInCauses({ cause: 'ECONNREFUSED' }, (e) => (e === 'ECONNREFUSED' ? e : undefined)),
    'ECONNREFUSED',
  );
  t.is(
    findInCauses(undefined, () => 'never'),
    undefined,
  );
});
