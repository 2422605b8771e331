import { describe, expect, it, jest } from '@jest/globals';
import { newId } from './ids.js';

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
