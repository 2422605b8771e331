import { describe, expect, it } from '@jest/globals';
import { AppConfig } from '../config/app-config.js';
import { WebhookSecretCipher } from './webhook-secret-cipher.js';

const explicitKey = Buffer.alloc(32, 7).toString('base64');

describe('webhook endpoint secrets at rest', () => {
  const derived = new WebhookSecretCipher(AppConfig.fromEnvironment({}));
  const explicit = new WebhookSecretCipher(AppConfig.fromEnvironment({ WEBHOOK_SECRET_ENCRYPTION_KEY: explicitKey }));

  it('are always sealed, under the derived key when no key is configured', () => {
    const sealed = derived.seal('endpoint-1', 'whsec_abc');
    expect(sealed).toMatch(/^aes256gcm-derived\./);
    expect(sealed).not.toContain('whsec_abc');
    expect(derived.open('endpoint-1', sealed)).toBe('whsec_abc');
  });

  it('use the configured key when there is one, and still open what the derived key sealed', () => {
    const sealed = explicit.seal('endpoint-1', 'whsec_abc');
    expect(sealed).toMatch(/^aes256gcm\./);
    expect(explicit.open('endpoint-1', sealed)).toBe('whsec_abc');
    expect(explicit.open('endpoint-2', derived.seal('endpoint-2', 'whsec_old'))).toBe('whsec_old');
    expect(() => derived.open('endpoint-1', sealed)).toThrow(/WEBHOOK_SECRET_ENCRYPTION_KEY/);
  });

  it('cannot be moved to another endpoint, and still read secrets stored in clear by earlier versions', () => {
    expect(() => derived.open('endpoint-2', derived.seal('endpoint-1', 'whsec_abc'))).toThrow();
    expect(derived.open('endpoint-1', 'plain.whsec.with.dots')).toBe('whsec.with.dots');
  });
});
