import { describe, expect, it } from '@jest/globals';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { CommonError, CommonErrorCode, ErrorKind } from '../errors/domain-error.js';
import { decodeCursor, DEFAULT_PAGE_LIMIT, encodeCursor, MAX_PAGE_LIMIT, PageQuery, toPage, type CursorPosition } from './cursor.js';

function thrownBy(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw, but it returned normally');
}

function expectInvalidCursor(cursor: string): void {
  const error = thrownBy(() => decodeCursor(cursor));
  expect(error).toBeInstanceOf(CommonError);
  expect(error).toMatchObject({ kind: ErrorKind.InvalidInput, code: CommonErrorCode.InvalidCursor });
}

const base64url = (text: string): string => Buffer.from(text, 'utf8').toString('base64url');

describe('encodeCursor and decodeCursor', () => {
  it('round-trips a time-and-id position', () => {
    const position = { key: '2026-01-01T08:30:00.123Z', id: '0193e0a4-7c1b-7000-8000-000000000001' };
    const cursor = encodeCursor(position);
    expect(decodeCursor(cursor)).toEqual(position);
  });

  it('gives an opaque, URL-safe cursor', () => {
    const cursor = encodeCursor({ key: '??/++==', id: 'id with spaces & ünïcödé 中文' });
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(cursor).not.toContain('2026');
    expect(decodeCursor(cursor)).toEqual({ key: '??/++==', id: 'id with spaces & ünïcödé 中文' });
  });

  it('round-trips keys and ids of exactly 128 characters', () => {
    const position = { key: 'k'.repeat(128), id: 'i'.repeat(128) };
    expect(decodeCursor(encodeCursor(position))).toEqual(position);
  });

  it('gives different cursors for different positions', () => {
    expect(encodeCursor({ key: '1', id: 'a' })).not.toBe(encodeCursor({ key: '1', id: 'b' }));
  });

  describe('refuses a cursor it did not issue with INVALID_CURSOR', () => {
    const valid = encodeCursor({ key: '2026-01-01T00:00:00.000Z', id: '42' });

    it('refuses an empty cursor', () => {
      expectInvalidCursor('');
    });

    it.each(['not a cursor', 'abc+def', 'abc/def', 'abc=', `${valid}=`, '%5B%22a%22%5D', 'ab.cd'])(
      'refuses %p, with characters base64url has not',
      (cursor) => {
        expectInvalidCursor(cursor);
      },
    );

    it('refuses a tampered cursor whose JSON no longer parses', () => {
      expectInvalidCursor(valid.slice(0, -1));
      expectInvalidCursor(valid.slice(3));
      expectInvalidCursor(`x${valid}`);
    });

    it('refuses garbage that decodes to no JSON at all', () => {
      expectInvalidCursor('garbage');
      expectInvalidCursor(base64url('not json'));
    });

    it.each([
      ['an object', '{"key":"a","id":"b"}'],
      ['a one-element array', '["a"]'],
      ['a three-element array', '["a","b","c"]'],
      ['a number where the id goes', '["a",1]'],
      ['null where the key goes', '[null,"b"]'],
      ['a bare string', '"ab"'],
      ['null', 'null'],
    ])('refuses a cursor holding %s', (_shape, json) => {
      expectInvalidCursor(base64url(json));
    });

    it('refuses a key or id longer than 128 characters', () => {
      expectInvalidCursor(encodeCursor({ key: 'k'.repeat(129), id: '1' }));
      expectInvalidCursor(encodeCursor({ key: '1', id: 'i'.repeat(129) }));
    });

    it('refuses a cursor longer than 512 characters without decoding it', () => {
      expectInvalidCursor('A'.repeat(513));
      // Well-formed but oversized: the length alone decides.
      const oversized = base64url(JSON.stringify(['a'.repeat(100), 'b'.repeat(300)]));
      expect(oversized.length).toBeGreaterThan(512);
      expectInvalidCursor(oversized);
    });
  });
});

describe('toPage', () => {
  interface Row {
    readonly createdAt: string;
    readonly id: string;
  }
  const rows: Row[] = Array.from({ length: 6 }, (_, index) => ({
    createdAt: `2026-01-0${index + 1}T00:00:00.000Z`,
    id: `row-${index + 1}`,
  }));
  const positionOf = (row: Row): CursorPosition => ({ key: row.createdAt, id: row.id });
  const toItem = (row: Row): { id: string } => ({ id: row.id });

  it('returns exactly limit items and a cursor at the last of them when limit + 1 rows came back', () => {
    const page = toPage(rows.slice(0, 4), 3, positionOf, toItem);
    expect(page.data).toEqual([{ id: 'row-1' }, { id: 'row-2' }, { id: 'row-3' }]);
    expect(page.nextCursor).not.toBeNull();
    expect(decodeCursor(page.nextCursor as string)).toEqual({ key: '2026-01-03T00:00:00.000Z', id: 'row-3' });
  });

  it('gives a null cursor on the last page, when exactly limit rows came back', () => {
    const page = toPage(rows.slice(0, 3), 3, positionOf, toItem);
    expect(page.data).toEqual([{ id: 'row-1' }, { id: 'row-2' }, { id: 'row-3' }]);
    expect(page.nextCursor).toBeNull();
  });

  it('gives a null cursor on a short last page', () => {
    const page = toPage(rows.slice(0, 2), 3, positionOf, toItem);
    expect(page.data).toEqual([{ id: 'row-1' }, { id: 'row-2' }]);
    expect(page.nextCursor).toBeNull();
  });

  it('gives an empty page with no cursor when nothing matched', () => {
    expect(toPage<Row, { id: string }>([], 3, positionOf, toItem)).toEqual({ data: [], nextCursor: null });
  });

  it('walks every row exactly once when each next page starts after the cursor', () => {
    const limit = 2;
    const seen: string[] = [];
    let after: CursorPosition | undefined;
    for (let pages = 0; pages < 10; pages += 1) {
      const start = after === undefined ? 0 : rows.findIndex((row) => row.id === after?.id) + 1;
      const page = toPage(rows.slice(start, start + limit + 1), limit, positionOf, toItem);
      seen.push(...page.data.map((item) => item.id));
      if (page.nextCursor === null) break;
      after = decodeCursor(page.nextCursor);
    }
    expect(seen).toEqual(rows.map((row) => row.id));
  });
});

describe('PageQuery', () => {
  function check(query: Record<string, unknown>): { page: PageQuery; failed: Record<string, string[]> } {
    const page = plainToInstance(PageQuery, query);
    const failed = Object.fromEntries(validateSync(page).map((error) => [error.property, Object.keys(error.constraints ?? {})]));
    return { page, failed };
  }

  it('defaults the limit to 20 when none is given', () => {
    const { page, failed } = check({});
    expect(failed).toEqual({});
    expect(page.limit).toBe(DEFAULT_PAGE_LIMIT);
    expect(DEFAULT_PAGE_LIMIT).toBe(20);
    expect(page.cursor).toBeUndefined();
  });

  it('turns the query string limit "50" into the number 50', () => {
    const { page, failed } = check({ limit: '50' });
    expect(failed).toEqual({});
    expect(page.limit).toBe(50);
  });

  it('accepts the bounds 1 and 100', () => {
    expect(check({ limit: '1' }).failed).toEqual({});
    expect(check({ limit: String(MAX_PAGE_LIMIT) }).failed).toEqual({});
    expect(MAX_PAGE_LIMIT).toBe(100);
  });

  it('refuses limit 0', () => {
    expect(check({ limit: '0' }).failed).toEqual({ limit: ['min'] });
  });

  it('refuses limit 101', () => {
    expect(check({ limit: '101' }).failed).toEqual({ limit: ['max'] });
  });

  it('refuses limit "abc"', () => {
    expect(check({ limit: 'abc' }).failed).toEqual({ limit: expect.arrayContaining(['isInt']) });
  });

  it('refuses a fractional limit "2.5"', () => {
    expect(check({ limit: '2.5' }).failed).toEqual({ limit: ['isInt'] });
  });

  it('accepts a cursor this API issued', () => {
    const cursor = encodeCursor({ key: 'k', id: 'i' });
    const { page, failed } = check({ cursor });
    expect(failed).toEqual({});
    expect(page.cursor).toBe(cursor);
  });

  it('refuses a cursor with characters base64url has not, and one past 512 characters', () => {
    const bad = validateSync(plainToInstance(PageQuery, { cursor: 'a+b/c=' }));
    expect(bad.map((error) => error.constraints)).toEqual([{ matches: 'cursor must be a cursor this API returned' }]);
    expect(check({ cursor: 'A'.repeat(513) }).failed).toEqual({ cursor: ['maxLength'] });
  });
});
