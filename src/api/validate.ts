/**
 * Request validation. The protovalidate annotations cannot be compiled here
 * (no package ships `buf/validate/validate.proto`), so rules live in the API
 * layer: each failure is INVALID_ARGUMENT naming the field.
 */
import { Code, ConnectError } from '@connectrpc/connect';

export function invalid(field: string, problem: string): ConnectError {
  return new ConnectError(`${field}: ${problem}`, Code.InvalidArgument);
}

export function requireText(field: string, value: string, maxLength: number): string {
  const trimmed = value.trim();
  if (trimmed === '') throw invalid(field, 'is required');
  if (trimmed.length > maxLength) throw invalid(field, `must be at most ${maxLength} characters`);
  return trimmed;
}

export function optionalText(field: string, value: string, maxLength: number): string {
  if (value.length > maxLength) throw invalid(field, `must be at most ${maxLength} characters`);
  return value.trim();
}

export function requireMatch(field: string, value: string, pattern: RegExp, description: string): string {
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
