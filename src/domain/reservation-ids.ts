/**
 * Reservation ids that name their hold entry: `rsv_` + 32 hex = the
 * feature's hash (6 hex) + the hold's seq in its chain (10 hex) + random
 * (16 hex). With the caller's project and customer, the hash gives the
 * chain (the catalog's metered feature with that hash) and the seq its
 * entry, so a commit or release finds the hold by `_id` alone (the only
 * fast lookup on FerretDB, docs/ferretdb.md). The random part is checked
 * against the entry: an id made up from a known seq finds nothing. Pure.
 */
import { createHash } from 'node:crypto';

export interface ReservationIdParts {
  /** 6 hex: featureHash of the reserved feature. */
  readonly featureHash: string;
  /** The hold entry's seq in its chain. */
  readonly seq: number;
  /** 16 hex. */
  readonly random: string;
}

/** 10 hex digits of seq. */
export const maxReservationSeq = 16 ** 10 - 1;
const randomPattern = /^[0-9a-f]{16}$/;
const idPattern = /^rsv_([0-9a-f]{6})([0-9a-f]{10})([0-9a-f]{16})$/;

/** The first 6 hex of the SHA-256 of the feature key. */
export function featureHash(feature: string): string {
  return createHash('sha256').update(feature).digest('hex').slice(0, 6);
}

export function reservationId(feature: string, seq: number, random: string): string {
  if (!Number.isInteger(seq) || seq < 1 || seq > maxReservationSeq) {
    throw new RangeError(`a reservation's seq must be 1 to ${maxReservationSeq}, not ${seq}`);
  }
  if (!randomPattern.test(random)) throw new RangeError('random must be 16 lowercase hex digits');
  return `rsv_${featureHash(feature)}${seq.toString(16).padStart(10, '0')}${random}`;
}

/** The parts of a well-formed id; undefined for anything else (also seq 0). */
export function parseReservationId(id: string): ReservationIdParts | undefined {
  const match = idPattern.exec(id);
  if (!match) return undefined;
  const [, hash = '', seqHex = '', random = ''] = match;
  const seq = Number.parseInt(seqHex, 16);
  if (seq < 1) return undefined;
  return { featureHash: hash, seq, random };
}

/** The features (of `features`) an id's hash points at: almost always one, none when forged. */
export function featuresOfReservation(
  parts: ReservationIdParts,
  features: Iterable<string>,
): string[] {
  return [...new Set(features)].filter((feature) => featureHash(feature) === parts.featureHash);
}
