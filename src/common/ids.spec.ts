import { describe, expect, it, jest } from '@jest/globals';
import { isLowerCaseUuid, isUuid, newId } from './ids.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('newId', () => {
  it('makes UUIDv7s carrying the current millisecond', () => {
    const before = Date.now();
    const id = newId();
    const after = Date.now();
    expect(id).toMatch(UUID_V7);
    const msecs = parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    expect(msecs).toBeGreaterThanOrEqual(before);
    expect(msecs).toBeLessThanOrEqual(after);
  });

  it('makes ids that strictly increase, across the 4 KiB random pool refills and within one millisecond', () => {
    const spy = jest.spyOn(Date, 'now').mockReturnValue(1_900_000_000_000);
    try {
      // 1,000 ids: the pool (256 ids) refills four times, all in the same (frozen) millisecond.
      const ids = Array.from({ length: 1000 }, () => newId());
      expect(new Set(ids).size).toBe(ids.length);
      for (let i = 1; i < ids.length; i++) expect((ids[i] ?? '') > (ids[i - 1] ?? '')).toBe(true);
    } finally {
      spy.mockRestore();
    }
  });

  it('never goes back when the clock does', () => {
    const spy = jest.spyOn(Date, 'now').mockReturnValue(2_000_000_000_000);
    try {
      const later = newId();
      spy.mockReturnValue(1_999_999_999_000);
      const afterTheClockWentBack = newId();
      expect(afterTheClockWentBack > later).toBe(true);
    } finally {
      spy.mockRestore();
    }
  });

  it('draws fresh randomness for every id (the bits after the counter differ)', () => {
    const tails = new Set(Array.from({ length: 200 }, () => newId().slice(-10)));
    expect(tails.size).toBe(200);
  });
});

describe('isLowerCaseUuid and isUuid', () => {
  const lower = '01a200ae-55c0-75b9-a5de-e008a7e1956c';

  it('take a UUID as PostgreSQL writes one, and newId makes', () => {
    expect(isLowerCaseUuid(lower)).toBe(true);
    expect(isUuid(lower)).toBe(true);
    expect(isLowerCaseUuid(newId())).toBe(true);
  });

  it('tell upper case apart: only isUuid takes it', () => {
    expect(isLowerCaseUuid(lower.toUpperCase())).toBe(false);
    expect(isUuid(lower.toUpperCase())).toBe(true);
    expect(isUuid('01A200AE-55c0-75B9-a5de-E008A7E1956C')).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['no hyphens', lower.replace(/-/g, '')],
    ['braces', `{${lower}}`],
    ['a letter past f', lower.replace('a', 'g')],
    ['one digit short', lower.slice(0, -1)],
    ['one digit long', `${lower}0`],
    ['a trailing newline', `${lower}\n`],
    ['SQL after it', `${lower}'; DROP TABLE users; --`],
    ['a hyphen moved', '01a200ae5-5c0-75b9-a5de-e008a7e1956c'],
    ['a capital I with a dot above, two characters once lower-cased', `${lower.slice(0, -1)}\u0130`],
  ])('refuse %s', (_name, text) => {
    expect(isLowerCaseUuid(text)).toBe(false);
    expect(isUuid(text)).toBe(false);
  });
});
