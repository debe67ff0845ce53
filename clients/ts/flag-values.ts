/**
 * How an entitlement reads as an OpenFeature number flag, for the server
 * and the web provider alike: the balance of a metered feature, else the
 * limit; 0 when not allowed; undefined (the caller's default) when
 * unlimited.
 */
import type { Entitlement } from './gen/billing/v1/entitlements_pb.js';

export function numberFlagOf(allowed: boolean, e: Entitlement | undefined): number | undefined {
  if (!allowed) return 0;
  const figure = e && (e.usage !== undefined ? e.balance : e.limit);
  return figure === undefined ? undefined : Number(figure);
}
