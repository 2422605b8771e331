import { describe, expect, it } from '@jest/globals';
import { PiiCipher } from './pii-cipher.js';

const key = (fill: number) => Buffer.alloc(32, fill);
const blind = Buffer.alloc(32, 9);

describe('PII encryption at rest', () => {
  it('round-trips, with a fresh nonce each time and the key id stored with the ciphertext', () => {
    const cipher = new PiiCipher([{ id: 'k1', key: key(1) }], blind);
    const first = cipher.encrypt('idNumber', '11010519491231002X');
    const second = cipher.encrypt('idNumber', '11010519491231002X');
    expect(first).not.toBe(second);
    expect(first).toMatch(/^v1\.k1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    expect(first).not.toContain('11010519491231002X');
    expect(cipher.decrypt('idNumber', first)).toBe('11010519491231002X');
    expect(cipher.decrypt('idNumber', second)).toBe('11010519491231002X');
  });

  it('refuses a ciphertext moved to another field, tampered with, or under an unknown key, without echoing it', () => {
    const cipher = new PiiCipher([{ id: 'k1', key: key(1) }], blind);
    const stored = cipher.encrypt('idNumber', '11010519491231002X');
    expect(() => cipher.decrypt('fullName', stored)).toThrow('a stored fullName failed authentication');
    const parts = stored.split('.');
    const flipped = Buffer.from(parts[3] ?? '', 'base64url');
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    const tampered = [parts[0], parts[1], parts[2], flipped.toString('base64url'), parts[4]].join('.');
    expect(() => cipher.decrypt('idNumber', tampered)).toThrow('failed authentication');
    expect(() => cipher.decrypt('idNumber', stored.replace('.k1.', '.k9.'))).toThrow('key k9, which is not configured');
    expect(() => cipher.decrypt('idNumber', 'plain text')).toThrow('not in the v1 form');
    try {
      cipher.decrypt('idNumber', tampered);
    } catch (error) {
      expect(String(error)).not.toContain('110105');
    }
  });

  it('rotates: the new first key encrypts, old keys still decrypt, and rotate re-encrypts only what is old', () => {
    const before = new PiiCipher([{ id: 'k1', key: key(1) }], blind);
    const old = before.encrypt('fullName', '张三');
    const after = new PiiCipher(
      [
        { id: 'k2', key: key(2) },
        { id: 'k1', key: key(1) },
      ],
      blind,
    );
    expect(after.decrypt('fullName', old)).toBe('张三');
    const rotated = after.rotate('fullName', old);
    expect(PiiCipher.keyIdOf(rotated)).toBe('k2');
    expect(after.decrypt('fullName', rotated)).toBe('张三');
    expect(after.rotate('fullName', rotated)).toBe(rotated);
    expect(() => before.decrypt('fullName', rotated)).toThrow('key k2, which is not configured');
  });

  it('gives equal blind indexes for equal values, different ones for other values, fields or keys', () => {
    const cipher = new PiiCipher([{ id: 'k1', key: key(1) }], blind);
    const index = cipher.blindIndex('idNumber', '11010519491231002X');
    expect(index).toMatch(/^[0-9a-f]{64}$/);
    expect(cipher.blindIndex('idNumber', '11010519491231002X')).toBe(index);
    expect(cipher.blindIndex('idNumber', '440524188001010014')).not.toBe(index);
    expect(cipher.blindIndex('fullName', '11010519491231002X')).not.toBe(index);
    expect(new PiiCipher([{ id: 'k1', key: key(1) }], Buffer.alloc(32, 8)).blindIndex('idNumber', '11010519491231002X')).not.toBe(index);
  });

  it('refuses bad keys at construction', () => {
    expect(() => new PiiCipher([], blind)).toThrow('at least one key');
    expect(() => new PiiCipher([{ id: 'k1', key: Buffer.alloc(16) }], blind)).toThrow('32 bytes');
    expect(() => new PiiCipher([{ id: 'bad id', key: key(1) }], blind)).toThrow('must be 1 to 32');
    expect(
      () =>
        new PiiCipher(
          [
            { id: 'k1', key: key(1) },
            { id: 'k1', key: key(2) },
          ],
          blind,
        ),
    ).toThrow('must differ');
    expect(() => new PiiCipher([{ id: 'k1', key: key(1) }], Buffer.alloc(16))).toThrow('at least 32 bytes');
  });
});
