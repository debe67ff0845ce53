/**
 * The parsers behind loadConfig: each reads one variable, applies its rule
 * and throws a ConfigError naming the variable (never echoing a secret).
 */
import { type MasterKey, masterKeyIdPattern } from './domain/secret-box.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`config: ${variable} ${problem}`);
  }
}

export function isConfigError(err: unknown): err is ConfigError {
  return err instanceof ConfigError;
}

export type Env = Readonly<Record<string, string | undefined>>;

/** `id:base64,id:base64`, each key 32 random bytes; the values are never echoed. */
export function masterKeys(env: Env, name: string): MasterKey[] {
  const raw = env[name];
  const format = 'as "<id>:<32 bytes in base64>", comma-separated (the first seals)';
  if (raw === undefined || raw.trim() === '') {
    throw new ConfigError(name, `is required: the key that seals stored secrets, ${format}`);
  }
  const keys = raw.split(',').map((entry): MasterKey => {
    const [id = '', encoded = '', ...rest] = entry.trim().split(':');
    const key = Buffer.from(encoded, 'base64');
    if (!masterKeyIdPattern.test(id) || rest.length > 0 || key.length !== 32) {
      throw new ConfigError(name, `must list keys ${format}; openssl rand -base64 32 makes one`);
    }
    return { id, key };
  });
  if (new Set(keys.map((k) => k.id)).size !== keys.length) {
    throw new ConfigError(name, 'must not list the same key id twice');
  }
  return keys;
}

/** A port number (0: a free one) or `off`. */
export function portOrOff(env: Env, name: string, fallback: number): number | undefined {
  if (env[name]?.trim().toLowerCase() === 'off') return undefined;
  return integer(env, name, { fallback, min: 0, max: 65535 });
}

/** Five fields (minute hour day month weekday), or six with seconds first; `off` disables. */
export function cron(env: Env, name: string, fallback: string): string | undefined {
  const value = optionalString(env, name, fallback).trim();
  if (value.toLowerCase() === 'off') return undefined;
  const fields = value.split(/\s+/);
  // Each field: comma-separated `*`, `?`, a value or a range (numbers or names), each with an optional step.
  const part = /^(\*|\?|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(\/\d+)?$/;
  const valid = (f: string) => f.split(',').every((p) => part.test(p));
  if ((fields.length !== 5 && fields.length !== 6) || !fields.every(valid)) {
    throw new ConfigError(name, `must be a cron expression like "0 3 * * *", got "${value}"`);
  }
  return value;
}

/** Comma-separated secrets, each at least 32 characters (never echoed in errors). */
export function secretList(env: Env, name: string): string[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return [];
  const secrets = raw.split(',').map((secret) => secret.trim());
  if (secrets.some((secret) => secret.length < 32)) {
    throw new ConfigError(name, 'must hold secrets of at least 32 characters, separated by commas');
  }
  return secrets;
}

export function originList(env: Env, name: string): string[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return [];
  const origins = raw.split(',').map((origin) => origin.trim());
  for (const origin of origins) {
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw new ConfigError(
        name,
        `must list origins like https://app.example.com, got "${origin}"`,
      );
    }
  }
  return origins;
}

/**
 * Comma-separated host names or IP addresses (IPv6 in brackets, as in a
 * URL), lower-cased; no ports, paths or wildcards.
 */
export function hostList(env: Env, name: string): Set<string> {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return new Set();
  const hosts = raw.split(',').map((host) => host.trim().toLowerCase());
  for (const host of hosts) {
    if (!/^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]*[a-z0-9])?)$/.test(host)) {
      throw new ConfigError(
        name,
        `must list host names or addresses like hooks.example.com, 127.0.0.1 or [::1], got "${host}"`,
      );
    }
  }
  return new Set(hosts);
}

export function optionalString(env: Env, name: string, fallback: string): string {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  return value;
}

function requiredString(env: Env, name: string): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') throw new ConfigError(name, 'is required');
  return value.trim();
}

export function integer(
  env: Env,
  name: string,
  rule: { fallback: number; min: number; max: number },
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return rule.fallback;
  if (!/^\d+$/.test(raw.trim()))
    throw new ConfigError(name, `must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < rule.min || value > rule.max) {
    throw new ConfigError(name, `must be between ${rule.min} and ${rule.max}, got ${value}`);
  }
  return value;
}

export function url(env: Env, name: string, protocols: readonly string[]): string {
  const raw = requiredString(env, name);
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    // The value may hold a password: never echo it back.
    throw new ConfigError(name, 'is not a valid URL');
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `must start with ${protocols.map((p) => `${p}//`).join(' or ')}`);
  }
  return raw;
}

export function optionalUrl(
  env: Env,
  name: string,
  protocols: readonly string[],
): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  return url(env, name, protocols);
}

export function oneOf<T extends string>(
  env: Env,
  name: string,
  allowed: readonly T[],
  fallback: T,
): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const match = allowed.find((value) => value === raw);
  if (match === undefined)
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${raw}"`);
  return match;
}
