import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';

const ENCRYPTED = 'aes256gcm';
const PLAIN = 'plain';

/**
 * Keeps endpoint signing secrets at rest. The dispatcher must be able to sign, so a secret cannot be
 * hashed like a client secret: with WEBHOOK_SECRET_ENCRYPTION_KEY set it is sealed with AES-256-GCM
 * (`aes256gcm.<iv>.<tag>.<ciphertext>`, bound to the endpoint id as associated data so a sealed secret
 * cannot be moved to another endpoint); without a key it is stored as it is (`plain.<secret>`), which
 * the README says plainly. Secrets are never logged and shown to the merchant only once.
 */
@Injectable()
export class WebhookSecretCipher {
  constructor(private readonly config: AppConfig) {}

  seal(endpointId: string, secret: string): string {
    const key = this.config.webhooks.secretEncryptionKey;
    if (key === undefined) return `${PLAIN}.${secret}`;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(endpointId));
    const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return [ENCRYPTED, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ciphertext.toString('base64url')].join('.');
  }

  open(endpointId: string, stored: string): string {
    const [scheme, ...rest] = stored.split('.');
    if (scheme === PLAIN) return rest.join('.');
    if (scheme !== ENCRYPTED || rest.length !== 3) throw new Error('webhook secret: unknown storage format');
    const key = this.config.webhooks.secretEncryptionKey;
    if (key === undefined) throw new Error('webhook secret is encrypted but WEBHOOK_SECRET_ENCRYPTION_KEY is not set');
    const [iv, tag, ciphertext] = rest.map((part) => Buffer.from(part, 'base64url')) as [Buffer, Buffer, Buffer];
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(Buffer.from(endpointId));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  }
}
