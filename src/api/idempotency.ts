/**
 * Optional idempotency keys for every write RPC, in one wrapper: any unary
 * method whose request has an `idempotency_key` field runs once per
 * (project, method, key); a retry gets the first answer back (with the
 * response header `idempotent-replayed: true`) and changes nothing more. The
 * same key with a different request is refused, so a client bug cannot
 * silently receive the answer to another call.
 */
import { createHash } from 'node:crypto';
import {
  clone,
  type DescField,
  type DescMessage,
  type DescService,
  fromBinary,
  type MessageShape,
  toBinary,
} from '@bufbuild/protobuf';
import { reflect } from '@bufbuild/protobuf/reflect';
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import type { ClaimResult, IdempotencyScope } from '../domain/idempotency.js';
import type { Logger } from '../logger.js';
import { requirePrincipal } from './auth.js';
import { optionalIdempotencyKey } from './validate.js';

/** Where first answers are kept (IdempotencyStore in production, a fake in tests). */
export interface IdempotencyRecords {
  claim(scope: IdempotencyScope, requestHash: string, now: Date): Promise<ClaimResult>;
  complete(scope: IdempotencyScope, response: Uint8Array): Promise<void>;
  release(scope: IdempotencyScope): Promise<void>;
}

type UnaryImpl = (
  request: MessageShape<DescMessage>,
  context: HandlerContext,
) => Promise<MessageShape<DescMessage>>;

export function withIdempotency<S extends DescService>(
  service: S,
  implementation: ServiceImpl<S>,
  store: IdempotencyRecords,
  logger: Logger,
  now: () => Date = () => new Date(),
): ServiceImpl<S> {
  // Method implementations are looked up by name: the generated types cannot follow that.
  const byName: Partial<ServiceImpl<S>> = implementation;
  const methods = { ...byName } as Record<string, UnaryImpl | undefined>;
  for (const method of service.methods) {
    const keyField = method.input.fields.find((f) => f.name === 'idempotency_key');
    const impl = methods[method.localName];
    if (method.methodKind !== 'unary' || !keyField || !impl) continue;
    const name = `${service.typeName}/${method.name}`;
    methods[method.localName] = async (request, context) => {
      const key = reflect(method.input, request).get(keyField);
      if (typeof key !== 'string' || key === '') return impl(request, context);
      optionalIdempotencyKey(key);
      const scope = { projectId: requirePrincipal(context).projectId, method: name, key };
      const claim = await store.claim(scope, requestHash(method.input, request, keyField), now());
      if (claim.kind === 'replay') {
        context.responseHeader.set('idempotent-replayed', 'true');
        return fromBinary(method.output, claim.response);
      }
      if (claim.kind === 'mismatch') {
        throw new ConnectError(
          'idempotency_key was used before with a different request',
          Code.FailedPrecondition,
        );
      }
      if (claim.kind === 'unreadable') {
        throw new ConnectError(
          'the first answer to this idempotency_key is sealed under a master key no longer configured; use a new key',
          Code.FailedPrecondition,
        );
      }
      if (claim.kind === 'in_progress') {
        throw new ConnectError(
          'a call with this idempotency_key is in progress; retry later',
          Code.Aborted,
        );
      }
      try {
        const response = await impl(request, context);
        await store.complete(scope, toBinary(method.output, response));
        return response;
      } catch (err) {
        // Failures are not remembered: the retry runs for real.
        await store.release(scope).catch((error: unknown) =>
          // Retries get ABORTED until the claim's lease ends, then run for real.
          logger.warn('idempotency key not released after a failed call', { method: name, error }),
        );
        throw err;
      }
    };
  }
  // Every method of the implementation, the unary ones with a key wrapped.
  const wrapped = methods as Partial<ServiceImpl<S>>;
  return { ...implementation, ...wrapped };
}

/** The request without its key: the same call retried hashes the same. */
function requestHash(
  schema: DescMessage,
  message: MessageShape<DescMessage>,
  keyField: DescField,
): string {
  const copy = clone(schema, message);
  reflect(schema, copy).set(keyField, '');
  return createHash('sha256').update(toBinary(schema, copy)).digest('hex');
}
