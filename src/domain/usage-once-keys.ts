/**
 * The once keys of usage ledger entries (unique in the collection, so the
 * insert that appends an operation also applies it once, on any replica).
 * Each namespace is its own: a TrackUsage key, a ReserveUsage key and the
 * end of a reservation never collide. Project ids are URI-encoded, so the
 * first `:` after them ends them and the rest is the key as given (the
 * TrackUsage keys stored before this module keep their form). Pure.
 */

/** A TrackUsage's idempotency key within its project. */
export function trackOnceKey(projectId: string, idempotencyKey: string): string {
  return `track:${encodeURIComponent(projectId)}:${idempotencyKey}`;
}

/** A ReserveUsage's idempotency key (or a generated one) within its project. */
export function reserveOnceKey(projectId: string, idempotencyKey: string): string {
  return `reserve:${encodeURIComponent(projectId)}:${idempotencyKey}`;
}

/** The one end of a reservation: its commit or its release, whichever is inserted first. */
export function endOnceKey(projectId: string, reservationId: string): string {
  return `end:${encodeURIComponent(projectId)}:${reservationId}`;
}
