import { describe, expect, it } from '@jest/globals';
import { canonicalJson } from './canonical-json.js';

/** `depth` arrays around 0: `nestedArrays(2)` is `[[0]]`. */
function nestedArrays(depth: number): unknown {
  let value: unknown = 0;
  for (let level = 0; level < depth; level += 1) value = [value];
  return value;
}

describe('canonicalJson', () => {
  describe('fixed vectors', () => {
    it.each<[string, unknown, string]>([
      ['null', null, 'null'],
      ['true', true, 'true'],
      ['false', false, 'false'],
      ['an integer', 42, '42'],
      ['a negative fraction', -0.5, '-0.5'],
      ['negative zero, as zero', -0, '0'],
      ['a large number, in JSON exponent form', 1e21, '1e+21'],
      ['an empty object', {}, '{}'],
      ['an empty array', [], '[]'],
      ['a string', 'abc', '"abc"'],
    ])('writes %s', (_what, value, expected) => {
      expect(canonicalJson(value)).toBe(expected);
    });

    it('sorts keys and writes no white space', () => {
      expect(canonicalJson({ b: 1, a: 2, c: 'three' })).toBe('{"a":2,"b":1,"c":"three"}');
    });

    it('sorts keys by UTF-16 code unit, digits before capitals before underscore before lower case', () => {
      // Object.entries would put the integer-like keys "9" and "10" first, in numeric order; "10" < "9" here.
      expect(canonicalJson({ b: 1, B: 2, a: 3, _: 4, 10: 5, 9: 6 })).toBe('{"10":5,"9":6,"B":2,"_":4,"a":3,"b":1}');
    });

    it('sorts a key outside the BMP by its surrogates, before U+FB01, as UTF-16 code units do', () => {
      expect(canonicalJson({ '\uFB01': 1, '\u{1F600}': 2 })).toBe('{"\u{1F600}":2,"\uFB01":1}');
    });

    it('sorts keys at every level of nesting and keeps array order', () => {
      const value = { z: { y: [3, { b: true, a: null }, 'x'], x: { d: 1, c: 2 } }, a: 'first' };
      expect(canonicalJson(value)).toBe('{"a":"first","z":{"x":{"c":2,"d":1},"y":[3,{"a":null,"b":true},"x"]}}');
    });

    it('writes undefined array items as null, as JSON.stringify does', () => {
      expect(canonicalJson([1, undefined, 3])).toBe('[1,null,3]');
      expect(canonicalJson([undefined])).toBe('[null]');
    });

    it('writes the holes of a sparse array as null, so the output stays JSON', () => {
      // eslint-disable-next-line no-sparse-arrays
      const sparse: unknown[] = [, 1];
      const output = canonicalJson(sparse);
      expect(output).toBe('[null,1]');
      expect(JSON.parse(output)).toEqual([null, 1]);
      expect(canonicalJson(new Array(2))).toBe('[null,null]');
    });

    it('leaves undefined members out', () => {
      expect(canonicalJson({ a: undefined, b: 1, c: { d: undefined } })).toBe('{"b":1,"c":{}}');
    });

    it('writes bigints as decimal strings, exactly', () => {
      expect(canonicalJson({ amountMinor: 9_007_199_254_740_993n, fee: -5n, zero: 0n })).toBe(
        '{"amountMinor":"9007199254740993","fee":"-5","zero":"0"}',
      );
    });

    it('writes a Date as its ISO 8601 UTC string', () => {
      expect(canonicalJson({ at: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6)) })).toBe('{"at":"2026-01-02T03:04:05.006Z"}');
    });

    it('keeps unicode strings as they are and escapes what JSON must', () => {
      expect(canonicalJson('né 中文 😀')).toBe('"né 中文 😀"');
      expect(canonicalJson('line\nbreak "quoted" back\\slash\ttab\u0001')).toBe('"line\\nbreak \\"quoted\\" back\\\\slash\\ttab\\u0001"');
      expect(canonicalJson({ ключ: 'значение' })).toBe('{"ключ":"значение"}');
    });

    it('escapes a lone surrogate so the output is well-formed UTF-16', () => {
      expect(canonicalJson('\uD800')).toBe('"\\ud800"');
    });

    it('parses back to the same data', () => {
      const value = { list: [1, 'two', { three: 3 }], flag: false, nothing: null, text: '中文' };
      expect(JSON.parse(canonicalJson(value))).toEqual(value);
    });
  });

  describe('equal values give identical output', () => {
    it('ignores the order keys were written in, at every level', () => {
      const one = { method: 'POST', body: { amountMinor: 100n, currency: 'CNY', meta: { b: [1, 2], a: 'x' } }, path: '/payments' };
      const other = { path: '/payments', body: { meta: { a: 'x', b: [1, 2] }, currency: 'CNY', amountMinor: 100n }, method: 'POST' };
      expect(canonicalJson(one)).toBe(canonicalJson(other));
    });

    it('treats an undefined member as absent', () => {
      expect(canonicalJson({ a: 1, b: undefined })).toBe(canonicalJson({ a: 1 }));
    });

    it('still tells different values apart', () => {
      expect(canonicalJson({ a: [1, 2] })).not.toBe(canonicalJson({ a: [2, 1] }));
      expect(canonicalJson({ a: '1' })).not.toBe(canonicalJson({ a: 1 }));
      expect(canonicalJson({ a: null })).not.toBe(canonicalJson({}));
    });
  });

  describe('values with no canonical form', () => {
    it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])('refuses %p, even deep inside', (value) => {
      expect(() => canonicalJson(value)).toThrow('canonical JSON has no form for NaN or Infinity');
      expect(() => canonicalJson({ outer: [1, { inner: value }] })).toThrow('canonical JSON has no form for NaN or Infinity');
    });

    it.each<[string, unknown]>([
      ['undefined', undefined],
      ['function', () => 1],
      ['symbol', Symbol('s')],
    ])('refuses a bare %s', (type, value) => {
      expect(() => canonicalJson(value)).toThrow(`canonical JSON has no form for ${type}`);
    });

    it('refuses a function inside an object rather than dropping it', () => {
      expect(() => canonicalJson({ callback: () => 1 })).toThrow('canonical JSON has no form for function');
    });

    it('accepts 64 levels of nesting and refuses 65', () => {
      expect(canonicalJson(nestedArrays(64))).toBe(`${'['.repeat(64)}0${']'.repeat(64)}`);
      expect(() => canonicalJson(nestedArrays(65))).toThrow('value nested too deeply for canonical JSON');
    });

    it('refuses deeply nested objects with its own error, not a stack overflow', () => {
      let deep: Record<string, unknown> = {};
      for (let level = 0; level < 10_000; level += 1) deep = { child: deep };
      expect(() => canonicalJson(deep)).toThrow('value nested too deeply for canonical JSON');
    });

    it('refuses a cycle through the depth limit', () => {
      const cyclic: Record<string, unknown> = { name: 'loop' };
      cyclic.self = cyclic;
      expect(() => canonicalJson(cyclic)).toThrow('value nested too deeply for canonical JSON');
    });
  });
});
