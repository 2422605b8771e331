import { describe, expect, it } from '@jest/globals';
import { arrayLiteral, withArrayLiterals } from './pg-array.js';

describe('arrayLiteral', () => {
  it('quotes every element, escapes only quotes and backslashes, and writes NULL for null', () => {
    expect(arrayLiteral([])).toBe('{}');
    expect(arrayLiteral([null, undefined])).toBe('{NULL,NULL}');
    expect(arrayLiteral(['NULL', '', ' a b ', 'x,y', '{z}'])).toBe('{"NULL",""," a b ","x,y","{z}"}');
    expect(arrayLiteral(['say "hi"', 'C:\\dir', '\\"'])).toBe('{"say \\"hi\\"","C:\\\\dir","\\\\\\""}');
    expect(arrayLiteral(['{"a":[1,"b"]}'])).toBe('{"{\\"a\\":[1,\\"b\\"]}"}');
  });

  it('writes numbers, bigints and booleans as text, and a Date as UTC ISO 8601, formatted once when repeated', () => {
    const at = new Date('2026-11-21T21:40:00.123Z');
    expect(arrayLiteral([1, -2.5, 12345678901234567890n, true, false])).toBe('{"1","-2.5","12345678901234567890","true","false"}');
    expect(arrayLiteral([at, new Date(at.getTime()), null, new Date(0)])).toBe(
      '{"2026-11-21T21:40:00.123Z","2026-11-21T21:40:00.123Z",NULL,"1970-01-01T00:00:00.000Z"}',
    );
  });

  it('refuses what it cannot write faithfully', () => {
    expect(() => arrayLiteral([new Date(Number.NaN)])).toThrow(RangeError);
    expect(() => arrayLiteral([Number.NaN])).toThrow(/not a finite number/);
    expect(() => arrayLiteral([[1]])).toThrow(/array/);
    expect(() => arrayLiteral([{ a: 1 }])).toThrow(/object/);
    expect(() => arrayLiteral([Buffer.from('x')])).toThrow(/object/);
  });

  it('replaces only the arrays among parameters', () => {
    const at = new Date(0);
    expect(withArrayLiterals([['a'], 'b', 3, null, at])).toEqual(['{"a"}', 'b', 3, null, at]);
  });
});
