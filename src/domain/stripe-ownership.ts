/**
 * Which project a Stripe object belongs to. Pure.
 *
 * Several projects may share one Stripe account, and Stripe sends every
 * event of an account to every endpoint and lists every subscription of it.
 * A project applies and counts only its own objects: those of the Stripe
 * customers it created (marked with its id in their metadata) or linked,
 * and the checkout sessions it started (marked the same way).
 */

/** The metadata key the service writes on the Stripe customers and checkout sessions it creates. */
export const projectMarkerKey = 'billing_project_id';

export type Ownership = 'ours' | 'theirs' | 'unknown';

/** What an object's metadata says: a marker of any project decides; no marker leaves it open. */
export function ownershipByMarker(
  projectId: string,
  metadata: Readonly<Record<string, string>> | null | undefined,
): Ownership {
  const marker = metadata?.[projectMarkerKey];
  if (typeof marker !== 'string' || marker === '') return 'unknown';
  return marker === projectId ? 'ours' : 'theirs';
}
