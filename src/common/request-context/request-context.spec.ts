import { describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { currentRequestContext, REQUEST_ID_HEADER, requestIdFrom, runWithRequestContext } from './request-context.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('requestIdFrom', () => {
  it('reads the x-request-id header', () => {
    expect(REQUEST_ID_HEADER).toBe('x-request-id');
  });

  it.each(['abc', 'req-123_456.789:0', 'A', '0193e0a4-7c1b-7000-8000-000000000001', 'x'.repeat(128)])(
    'keeps the well-formed client id %p',
    (id) => {
      expect(requestIdFrom(id)).toBe(id);
    },
  );

  it.each([
    ['an id with a space', 'has space'],
    ['an id of 129 characters', 'x'.repeat(129)],
    ['an empty string', ''],
    ['an id with a line break (log injection)', 'abc\nlevel=fatal'],
    ['an id with a trailing newline', 'abc\n'],
    ['an id with non-ASCII letters', 'запрос'],
    ['an id with a slash', 'a/b'],
    ['an id with quotes', '"abc"'],
  ])('replaces %s with a fresh UUIDv7', (_what, id) => {
    const result = requestIdFrom(id);
    expect(result).not.toBe(id);
    expect(result).toMatch(UUID_V7);
  });

  it('generates a UUIDv7 when there is no header', () => {
    expect(requestIdFrom(undefined)).toMatch(UUID_V7);
  });

  it('generates a different id each time', () => {
    const ids = new Set(Array.from({ length: 50 }, () => requestIdFrom(undefined)));
    expect(ids.size).toBe(50);
  });

  it('takes the first of a repeated header', () => {
    expect(requestIdFrom(['first-id', 'second-id'])).toBe('first-id');
  });

  it('does not fall back to a later value when the first of a repeated header is malformed', () => {
    const result = requestIdFrom(['bad id', 'good-id']);
    expect(result).not.toBe('good-id');
    expect(result).toMatch(UUID_V7);
  });

  it('generates an id for an empty header list', () => {
    expect(requestIdFrom([])).toMatch(UUID_V7);
  });
});

describe('runWithRequestContext and currentRequestContext', () => {
  it('has no context outside a request', () => {
    expect(currentRequestContext()).toBeUndefined();
  });

  it("returns the callback's value and shows the context inside it", () => {
    const result = runWithRequestContext({ requestId: 'req-1' }, () => currentRequestContext()?.requestId);
    expect(result).toBe('req-1');
    expect(currentRequestContext()).toBeUndefined();
  });

  it('keeps the context across an await', async () => {
    const seen = await runWithRequestContext({ requestId: 'req-await' }, async () => {
      const before = currentRequestContext()?.requestId;
      await sleep(5);
      await Promise.resolve();
      return [before, currentRequestContext()?.requestId];
    });
    expect(seen).toEqual(['req-await', 'req-await']);
  });

  it('keeps two requests that interleave apart', async () => {
    const handle = (requestId: string, delayMs: number): Promise<string | undefined> =>
      runWithRequestContext({ requestId }, async () => {
        await sleep(delayMs);
        return currentRequestContext()?.requestId;
      });
    const [slow, fast] = await Promise.all([handle('req-slow', 20), handle('req-fast', 1)]);
    expect(slow).toBe('req-slow');
    expect(fast).toBe('req-fast');
  });

  it('restores the outer context after a nested one ends', () => {
    const seen = runWithRequestContext({ requestId: 'outer' }, () => {
      const inner = runWithRequestContext({ requestId: 'inner' }, () => currentRequestContext()?.requestId);
      return [inner, currentRequestContext()?.requestId];
    });
    expect(seen).toEqual(['inner', 'outer']);
  });
});
