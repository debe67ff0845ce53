/**
 * Timeline entry ids (store/timeline-store.ts reads them as `_id` ranges):
 * a customer's entries share a prefix, the project and then a hash of the
 * customer id (so no customer's prefix is another's), followed by the
 * entry's time in milliseconds, zero-padded, so id order is time order, and
 * a random suffix. A page token of ListCustomerTimeline is such an id.
 */
import { createHash, randomBytes } from 'node:crypto';

const timeKey = (at: Date) => at.getTime().toString().padStart(13, '0');

export const customerEntryPrefix = (projectId: string, customerId: string): string =>
  `${projectId}:${createHash('sha256').update(customerId).digest('hex').slice(0, 24)}:`;

export const projectEntryPrefix = (projectId: string): string => `${projectId}:`;

export const newEntryId = (prefix: string, at: Date): string =>
  `${prefix}${timeKey(at)}:${randomBytes(4).toString('hex')}`;

/** Ids of a prefix's entries at or before `at` sort below this (':' < ';'). */
export const entryIdsUpTo = (prefix: string, at: Date): string => `${prefix}${timeKey(at)};`;

/** After every digit and ':' in an id: the end of a prefix's range. */
export const entryIdsEnd = (prefix: string): string => `${prefix}~`;

/** Whether `id` names an entry of this customer's timeline. */
export function isCustomerEntryId(projectId: string, customerId: string, id: string): boolean {
  const prefix = customerEntryPrefix(projectId, customerId);
  return id.startsWith(prefix) && /^\d{13}:[0-9a-f]{8}$/.test(id.slice(prefix.length));
}

/** The time an entry id names. */
export function timeOfEntryId(id: string): Date {
  return new Date(Number(/:(\d{13}):[0-9a-f]{8}$/.exec(id)?.[1]));
}
