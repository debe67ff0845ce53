/** Stripe's form bodies and query strings (bracket notation), and typed access to them. */
import type Stripe from 'stripe';
import { invalid, missingParam } from './errors.js';

export type FormValue = string | FormValue[] | FormObject;
export interface FormObject {
  [key: string]: FormValue;
}

export function isFormObject(value: FormValue | undefined): value is FormObject {
  return typeof value === 'object' && !Array.isArray(value);
}

export function decodeComponent(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    throw invalid(`Invalid URL encoding: ${text}`);
  }
}

/** `a[b][0][c]=v&a[b][]=w&metadata[k]=v` into nested objects; index-keyed objects become arrays. */
export function parseForm(text: string): FormObject {
  const root: FormObject = {};
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = decodeComponent(eq === -1 ? pair : pair.slice(0, eq));
    const value = decodeComponent(eq === -1 ? '' : pair.slice(eq + 1));
    const open = key.indexOf('[');
    const head = open === -1 ? key : key.slice(0, open);
    const rest = open === -1 ? '' : key.slice(open);
    const segments = [head];
    for (const match of rest.matchAll(/\[([^\]]*)\]/g)) segments.push(match[1] ?? '');
    let target = root;
    for (let i = 0; i < segments.length; i += 1) {
      const raw = segments[i] ?? '';
      const segment = raw === '' && i > 0 ? String(Object.keys(target).length) : raw;
      if (i === segments.length - 1) {
        target[segment] = value;
      } else {
        const next = target[segment];
        if (isFormObject(next)) {
          target = next;
        } else {
          const created: FormObject = {};
          target[segment] = created;
          target = created;
        }
      }
    }
  }
  return withArrays(root, false);
}

function withArrays(object: FormObject, isMetadata: boolean): FormObject {
  for (const [key, value] of Object.entries(object)) {
    if (isFormObject(value)) {
      const converted = withArrays(value, key === 'metadata');
      const keys = Object.keys(converted);
      const indexed =
        key !== 'metadata' &&
        !isMetadata &&
        keys.length > 0 &&
        keys.every((k, i) => k === String(i));
      object[key] = indexed ? keys.map((k) => converted[k] ?? '') : converted;
    }
  }
  return object;
}

/** Typed access to one level of request parameters, with Stripe's error messages. */
export class Params {
  constructor(
    readonly values: FormObject,
    private readonly prefix = '',
  ) {}

  name(key: string): string {
    return this.prefix === '' ? key : `${this.prefix}[${key}]`;
  }

  has(key: string): boolean {
    return this.values[key] !== undefined;
  }

  /** Rejects parameters Stripe would not know (`Received unknown parameter`). */
  allow(known: readonly string[]): this {
    for (const key of Object.keys(this.values)) {
      if (!known.includes(key)) {
        throw invalid(`Received unknown parameter: ${this.name(key)}`, this.name(key));
      }
    }
    return this;
  }

  string(key: string): string | undefined {
    const value = this.values[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') {
      throw invalid(`Invalid string: ${JSON.stringify(value)}`, this.name(key));
    }
    return value;
  }

  /** A string that must be present and not empty. */
  required(key: string): string {
    const value = this.string(key);
    if (value === undefined || value === '') throw missingParam(this.name(key));
    return value;
  }

  enumValue<T extends string>(key: string, allowed: readonly T[]): T | undefined {
    const value = this.string(key);
    if (value === undefined) return undefined;
    const found = allowed.find((candidate) => candidate === value);
    if (found === undefined) {
      throw invalid(
        `Invalid ${this.name(key)}: must be one of ${allowed.join(', ')}`,
        this.name(key),
      );
    }
    return found;
  }

  integer(key: string, min?: number, max?: number): number | undefined {
    const value = this.string(key);
    if (value === undefined) return undefined;
    if (!/^-?\d+$/.test(value)) throw invalid(`Invalid integer: ${value}`, this.name(key));
    const number = Number(value);
    if (min !== undefined && number < min) {
      throw invalid(`This value must be greater than or equal to ${min}.`, this.name(key));
    }
    if (max !== undefined && number > max) {
      throw invalid(`This value must be less than or equal to ${max}.`, this.name(key));
    }
    return number;
  }

  boolean(key: string): boolean | undefined {
    const value = this.string(key);
    if (value === undefined) return undefined;
    if (value !== 'true' && value !== 'false') {
      throw invalid(`Invalid boolean: ${value}`, this.name(key));
    }
    return value === 'true';
  }

  object(key: string): Params | undefined {
    const value = this.values[key];
    if (value === undefined) return undefined;
    if (!isFormObject(value)) throw invalid(`Invalid hash`, this.name(key));
    return new Params(value, this.name(key));
  }

  objects(key: string): Params[] | undefined {
    const value = this.values[key];
    if (value === undefined) return undefined;
    if (!Array.isArray(value)) throw invalid(`Invalid array`, this.name(key));
    return value.map((item, index) => {
      const name = `${this.name(key)}[${index}]`;
      if (!isFormObject(item)) throw invalid(`Invalid hash`, name);
      return new Params(item, name);
    });
  }

  strings(key: string): string[] {
    const value = this.values[key];
    if (value === undefined) return [];
    if (typeof value === 'string') return [value];
    if (!Array.isArray(value)) throw invalid(`Invalid array`, this.name(key));
    return value.map((item) => {
      if (typeof item !== 'string') throw invalid(`Invalid array`, this.name(key));
      return item;
    });
  }

  /** Stripe's metadata rules: at most 50 keys of 40 characters, values of 500; `''` unsets. */
  metadata(key = 'metadata'): Stripe.Metadata | undefined {
    const value = this.values[key];
    if (value === undefined) return undefined;
    if (value === '') return {};
    if (!isFormObject(value)) throw invalid('Invalid hash', this.name(key));
    const out: Stripe.Metadata = {};
    for (const [k, v] of Object.entries(value)) {
      if (typeof v !== 'string') throw invalid('Invalid string', `${this.name(key)}[${k}]`);
      if (k.length > 40) {
        throw invalid(`Metadata keys can have up to 40 characters.`, `${this.name(key)}[${k}]`);
      }
      if (v.length > 500) {
        throw invalid(`Metadata values can have up to 500 characters.`, `${this.name(key)}[${k}]`);
      }
      if (v !== '') out[k] = v;
    }
    if (Object.keys(out).length > 50) {
      throw invalid('You can specify up to 50 keys in metadata.', this.name(key));
    }
    return out;
  }
}
