/**
 * Secrets at rest: AES-256-GCM under a master key from configuration. A
 * sealed value reads `sealed:v1:<key id>:<base64url of iv | tag | ciphertext>`;
 * the key id lets several master keys coexist (the first seals, every one
 * opens), which is how the master key is rotated. The associated data names
 * where a value belongs (e.g. `projects:proj_1:stripe_secret_key`), so a
 * ciphertext copied into another row or field does not open there.
 * Pure: random bytes come in as a parameter.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';

export interface MasterKey {
  /** Short name stored in each ciphertext, never the key itself. */
  readonly id: string;
  /** 32 bytes. */
  readonly key: Buffer;
}

export const masterKeyIdPattern = /^[A-Za-z0-9_-]{1,32}$/;
const sealedPattern = /^sealed:v1:([A-Za-z0-9_-]{1,32}):([A-Za-z0-9_-]+)$/;
const ivBytes = 12;
const tagBytes = 16;

/** A sealed value that no configured key opens: the wrong master key, or a damaged value. */
export class SecretOpenError extends Error {
  override readonly name = 'SecretOpenError';
  constructor(
    readonly keyId: string | undefined,
    problem: string,
  ) {
    super(problem);
  }
}

export function isSecretOpenError(err: unknown): err is SecretOpenError {
  return err instanceof SecretOpenError;
}

export function isSealed(value: string): boolean {
  return value.startsWith('sealed:');
}

/** The key id a sealed value names, or undefined for anything else. */
export function sealedKeyId(value: string): string | undefined {
  return sealedPattern.exec(value)?.[1];
}

export class SecretBox {
  private readonly byId: ReadonlyMap<string, Buffer>;
  private readonly primary: MasterKey;

  constructor(
    keys: readonly MasterKey[],
    private readonly randomBytes: (size: number) => Buffer,
  ) {
    const [primary] = keys;
    if (!primary) throw new Error('SecretBox needs at least one master key');
    this.primary = primary;
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  /** The id of the key that seals: values under any other id are re-sealed at start. */
  get primaryKeyId(): string {
    return this.primary.id;
  }

  seal(plaintext: string | Uint8Array, associatedData: string): string {
    const iv = this.randomBytes(ivBytes);
    const cipher = createCipheriv('aes-256-gcm', this.primary.key, iv);
    cipher.setAAD(Buffer.from(associatedData, 'utf8'));
    const body = Buffer.concat([
      cipher.update(typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext),
      cipher.final(),
    ]);
    const packed = Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
    return `sealed:v1:${this.primary.id}:${packed}`;
  }

  open(sealed: string, associatedData: string): Buffer {
    const match = sealedPattern.exec(sealed);
    if (!match?.[1] || !match[2]) throw new SecretOpenError(undefined, 'not a sealed value');
    const keyId = match[1];
    const key = this.byId.get(keyId);
    if (!key)
      throw new SecretOpenError(keyId, `sealed under master key "${keyId}", not configured`);
    const packed = Buffer.from(match[2], 'base64url');
    if (packed.length < ivBytes + tagBytes) throw new SecretOpenError(keyId, 'truncated');
    const decipher = createDecipheriv('aes-256-gcm', key, packed.subarray(0, ivBytes));
    decipher.setAAD(Buffer.from(associatedData, 'utf8'));
    decipher.setAuthTag(packed.subarray(ivBytes, ivBytes + tagBytes));
    try {
      return Buffer.concat([
        decipher.update(packed.subarray(ivBytes + tagBytes)),
        decipher.final(),
      ]);
    } catch {
      throw new SecretOpenError(
        keyId,
        `master key "${keyId}" does not open it (a different key with the same id, or a damaged value)`,
      );
    }
  }

  openText(sealed: string, associatedData: string): string {
    return this.open(sealed, associatedData).toString('utf8');
  }
}
