import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';

const ENCRYPTED = 'aes256gcm';
/** Sealed with the key derived from PII_BLIND_INDEX_KEY, when WEBHOOK_SECRET_ENCRYPTION_KEY is not set. */
const ENCRYPTED_DERIVED = 'aes256gcm-derived';
/** Written by earlier versions without a key; still read. */
const PLAIN = 'plain';

/**
 * Keeps endpoint signing secrets at rest. The dispatcher must be able to sign, so a secret cannot be
 * hashed like a client secret: it is sealed with AES-256-GCM (`<scheme>.<iv>.<tag>.<ciphertext>`, bound
 * to the endpoint id as associated data so a sealed secret cannot be moved to another endpoint), under
 * WEBHOOK_SECRET_ENCRYPTION_KEY when it is set (`aes256gcm`), otherwise under a key derived (HKDF) from
 * PII_BLIND_INDEX_KEY (`aes256gcm-derived`). The scheme says which key opens it, so setting the
 * variable later does not strand the secrets sealed before. Secrets are never logged and shown to the
 * merchant only once.
 */
@Injectable()
export class WebhookSecretCipher {
  private readonly derivedKey: Buffer;

  constructor(private readonly config: AppConfig) {
    this.derivedKey = Buffer.from(hkdfSync('sha256', config.identity.blindIndexKey, '', 'creditgate webhook endpoint secrets', 32));
  }

  seal(endpointId: string, secret: string): string {
    const explicit = this.config.webhooks.secretEncryptionKey;
    const key = explicit ?? this.derivedKey;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(endpointId));
    const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return [
      explicit === undefined ? ENCRYPTED_DERIVED : ENCRYPTED,
      iv.toString('base64url'),
      cipher.getAuthTag().toString('base64url'),
      ciphertext.toString('base64url'),
    ].join('.');
  }

  open(endpointId: string, stored: string): string {
    const [scheme, ...rest] = stored.split('.');
    if (scheme === PLAIN) return rest.join('.');
    if ((scheme !== ENCRYPTED && scheme !== ENCRYPTED_DERIVED) || rest.length !== 3)
      throw new Error('webhook secret: unknown storage format');
    const key = scheme === ENCRYPTED_DERIVED ? this.derivedKey : this.config.webhooks.secretEncryptionKey;
    if (key === undefined) throw new Error('webhook secret is encrypted but WEBHOOK_SECRET_ENCRYPTION_KEY is not set');
    const [iv, tag, ciphertext] = rest.map((part) => Buffer.from(part, 'base64url')) as [Buffer, Buffer, Buffer];
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(Buffer.from(endpointId));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  }
}
