import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

/**
 * Encryption of personal data at rest (names and ID numbers): AES-256-GCM with a fresh 96-bit nonce
 * per value, the key's id kept with the ciphertext so that keys can rotate, and the field's name bound
 * in as associated data (a name's ciphertext cannot be passed off as an ID number's).
 *
 * Stored form, one ASCII string: `v1.<keyId>.<nonce b64url>.<ciphertext b64url>.<tag b64url>`.
 *
 * A blind index (HMAC-SHA256 under its own key) lets the database enforce "one ID number, one account"
 * with a unique index, without holding the number in a form that can be read back.
 */
export interface PiiKey {
  /** A short id, stored with every ciphertext made with this key. */
  readonly id: string;
  /** 32 bytes. */
  readonly key: Buffer;
}

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

export class PiiCipher {
  private readonly keys: ReadonlyMap<string, Buffer>;
  /** The id of the key new values are encrypted with. */
  readonly currentKeyId: string;

  /** `keys[0]` encrypts; every key decrypts what it made. */
  constructor(
    keys: readonly PiiKey[],
    private readonly blindIndexKey: Buffer,
  ) {
    if (keys.length === 0) throw new Error('PII encryption needs at least one key');
    for (const key of keys) {
      if (!KEY_ID.test(key.id)) throw new Error(`PII key id ${JSON.stringify(key.id)} must be 1 to 32 letters, digits, _ or -`);
      if (key.key.length !== 32) throw new Error(`PII key ${key.id} must be 32 bytes`);
    }
    if (new Set(keys.map((key) => key.id)).size !== keys.length) throw new Error('PII key ids must differ');
    if (blindIndexKey.length < 32) throw new Error('the blind-index key must be at least 32 bytes');
    this.keys = new Map(keys.map((key) => [key.id, key.key]));
    this.currentKeyId = keys[0]?.id ?? '';
  }

  encrypt(field: string, plaintext: string): string {
    const key = this.keys.get(this.currentKeyId);
    if (key === undefined) throw new Error('no current PII key');
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(Buffer.from(`creditgate:pii:${field}`, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [
      'v1',
      this.currentKeyId,
      nonce.toString('base64url'),
      ciphertext.toString('base64url'),
      cipher.getAuthTag().toString('base64url'),
    ].join('.');
  }

  /** Throws (without echoing anything of the value) when the stored form is damaged, forged or for another field. */
  decrypt(field: string, stored: string): string {
    const parts = stored.split('.');
    const [version, keyId, nonce, ciphertext, tag] = parts;
    if (
      parts.length !== 5 ||
      version !== 'v1' ||
      keyId === undefined ||
      nonce === undefined ||
      ciphertext === undefined ||
      tag === undefined
    ) {
      throw new Error(`a stored ${field} is not in the v1 form`);
    }
    const key = this.keys.get(keyId);
    if (key === undefined) throw new Error(`a stored ${field} was encrypted with key ${keyId}, which is not configured`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(nonce, 'base64url'));
      decipher.setAAD(Buffer.from(`creditgate:pii:${field}`, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new Error(`a stored ${field} failed authentication`);
    }
  }

  /** The key id a stored value was encrypted with (for rotation: re-encrypt what is not current). */
  static keyIdOf(stored: string): string | undefined {
    return stored.split('.')[1];
  }

  /** Re-encrypts a stored value with the current key; a value already current is returned as it is. */
  rotate(field: string, stored: string): string {
    return PiiCipher.keyIdOf(stored) === this.currentKeyId ? stored : this.encrypt(field, this.decrypt(field, stored));
  }

  /** The blind index of a value: equal values give equal indexes; the value cannot be read back. */
  blindIndex(field: string, value: string): string {
    return createHmac('sha256', this.blindIndexKey).update(`${field}\n${value}`, 'utf8').digest('hex');
  }
}
