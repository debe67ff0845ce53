/**
 * Request validation. The protovalidate annotations cannot be compiled here
 * (no package ships `buf/validate/validate.proto`), so rules live in the API
 * layer: each failure is INVALID_ARGUMENT naming the field.
 */
import { type Duration, type Timestamp, timestampDate } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';

export function invalid(field: string, problem: string): ConnectError {
  return new ConnectError(`${field}: ${problem}`, Code.InvalidArgument);
}

/**
 * C0 controls (NUL, escape, line breaks...), DEL and C1 controls: text that
 * ends up in audit entries, logs and Stripe metadata must print as it reads.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point.
const controlCharacters = /[\u0000-\u001f\u007f-\u009f]/;

export function hasControlCharacters(value: string): boolean {
  return controlCharacters.test(value);
}

function refuseControlCharacters(field: string, value: string): void {
  if (hasControlCharacters(value)) throw invalid(field, 'must not contain control characters');
}

export function requireText(field: string, value: string, maxLength: number): string {
  refuseControlCharacters(field, value);
  const trimmed = value.trim();
  if (trimmed === '') throw invalid(field, 'is required');
  if (trimmed.length > maxLength) throw invalid(field, `must be at most ${maxLength} characters`);
  return trimmed;
}

export function optionalText(field: string, value: string, maxLength: number): string {
  refuseControlCharacters(field, value);
  if (value.length > maxLength) throw invalid(field, `must be at most ${maxLength} characters`);
  return value.trim();
}

export function requireMatch(
  field: string,
  value: string,
  pattern: RegExp,
  description: string,
): string {
  if (!pattern.test(value)) throw invalid(field, `must be ${description}`);
  return value;
}

export const limits = {
  name: 100,
  reason: 500,
  customerId: 256,
  feature: 128,
  idempotencyKey: 255,
} as const;

/** The product's own customer id: printable, no control characters. */
export function requireCustomerId(value: string, field = 'customer_id'): string {
  if (value === '') throw invalid(field, 'is required');
  if (value.length > limits.customerId)
    throw invalid(field, `must be at most ${limits.customerId} characters`);
  refuseControlCharacters(field, value);
  return value;
}

const featurePattern = /^[A-Za-z0-9_.:-]+$/;

export function requireFeature(field: string, value: string): string {
  if (value === '') throw invalid(field, 'is required');
  if (value.length > limits.feature)
    throw invalid(field, `must be at most ${limits.feature} characters`);
  if (!featurePattern.test(value))
    throw invalid(field, 'may contain only letters, digits and _ . : -');
  return value;
}

const feedPositionPattern = /^\d{1,16}-\d{1,16}$/;

/** A change feed position as the feed gave it (empty: from now on). */
export function optionalFeedPosition(field: string, value: string): string {
  if (value === '') return value;
  return requireMatch(field, value, feedPositionPattern, 'a position from an earlier message');
}

export function requireHttpUrl(field: string, value: string): string {
  if (value === '') throw invalid(field, 'is required');
  if (value.length > 2048) throw invalid(field, 'must be at most 2048 characters');
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw invalid(field, 'must be an absolute http(s) URL');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
    throw invalid(field, 'must be an absolute http(s) URL');
  return value;
}

/** A limit must be a positive whole number that fits a double exactly. */
export function optionalLimit(field: string, value: bigint | undefined): number | null {
  if (value === undefined) return null;
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw invalid(field, `must be between 0 and ${Number.MAX_SAFE_INTEGER}`);
  }
  return Number(value);
}

export function pageSize(value: number, fallback = 50, max = 500): number {
  if (value === 0) return fallback;
  if (value < 0 || value > max) throw invalid('page_size', `must be between 1 and ${max}`);
  return value;
}

/** Optional; when given, at most 255 printable characters. */
export function optionalIdempotencyKey(value: string): string {
  if (value.length > limits.idempotencyKey) {
    throw invalid('idempotency_key', `must be at most ${limits.idempotencyKey} characters`);
  }
  refuseControlCharacters('idempotency_key', value);
  return value;
}

export function requireReason(value: string): string {
  return requireText('reason', value, limits.reason);
}

/** 0001-01-01 to 9999-12-31, as google.protobuf.Timestamp defines its range. */
const minTimestampSeconds = -62_135_596_800n;
const maxTimestampSeconds = 253_402_300_799n;

/**
 * A Timestamp outside its defined range would become an Invalid Date, which
 * fails far from here (as INTERNAL) when it is stored or echoed back.
 */
export function optionalTimestamp(field: string, value: Timestamp | undefined): Date | undefined {
  if (value === undefined) return undefined;
  if (value.seconds < minTimestampSeconds || value.seconds > maxTimestampSeconds) {
    throw invalid(field, 'must be between 0001-01-01 and 9999-12-31');
  }
  if (value.nanos < 0 || value.nanos > 999_999_999) {
    throw invalid(field, 'nanos must be between 0 and 999999999');
  }
  return timestampDate(value);
}

/** A Duration of whole seconds in [1, max]; absent: `fallback`. */
export function wholeSeconds(
  field: string,
  value: Duration | undefined,
  fallback: number,
  max: number,
): number {
  if (!value) return fallback;
  const seconds = Number(value.seconds);
  if (seconds < 1 || seconds > max || value.nanos !== 0) {
    throw invalid(field, `must be whole seconds between 1 and ${max}`);
  }
  return seconds;
}

/** A whole number in [min, max] (both within a double's exact range). */
export function requireWholeNumber(field: string, value: bigint, min: number, max: number): number {
  if (value < BigInt(min) || value > BigInt(max)) {
    throw invalid(field, `must be between ${min} and ${max}`);
  }
  return Number(value);
}

const meterEventNamePattern = /^[A-Za-z0-9_.-]{1,100}$/;

/** A Stripe meter's event name; empty: none (null). */
export function optionalMeterEventName(field: string, value: string): string | null {
  if (value === '') return null;
  if (!meterEventNamePattern.test(value))
    throw invalid(field, 'must be 1 to 100 characters of letters, digits and _ . -');
  return value;
}
