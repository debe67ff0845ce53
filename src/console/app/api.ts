/**
 * The public API as the console calls it: Connect over fetch to this
 * origin, the session's admin key on every request. Errors become one line
 * an operator can act on.
 */
import { Code, ConnectError, createClient, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-web';
import { AdminService } from '../../../gen/billing/v1/admin_pb.js';
import { EntitlementsService } from '../../../gen/billing/v1/entitlements_pb.js';
import { MetricsService } from '../../../gen/billing/v1/metrics_pb.js';
import { currentKey } from './session.js';

const withKey: Interceptor = (next) => async (request) => {
  const key = currentKey();
  if (key) request.header.set('authorization', `Bearer ${key}`);
  return next(request);
};

const transport = createConnectTransport({
  baseUrl: location.origin,
  interceptors: [withKey],
});

export const admin = createClient(AdminService, transport);
export const entitlements = createClient(EntitlementsService, transport);
export const metrics = createClient(MetricsService, transport);

/** What went wrong, for the operator: the status by name and the service's message. */
export function describeError(error: unknown): string {
  const connectError = ConnectError.from(error);
  const hint = hints.get(connectError.code);
  const code = Code[connectError.code] ?? 'Unknown';
  return `${code}: ${connectError.rawMessage}${hint ? ` (${hint})` : ''}`;
}

const hints = new Map<Code, string>([
  [Code.Unauthenticated, 'the key is unknown or revoked: sign in again'],
  [Code.PermissionDenied, 'this key has no admin scope'],
  [Code.Unavailable, 'the service or a dependency is down: try again'],
]);

export function isUnauthenticated(error: unknown): boolean {
  return ConnectError.from(error).code === Code.Unauthenticated;
}
