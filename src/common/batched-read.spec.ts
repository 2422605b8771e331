import { describe, expect, it } from '@jest/globals';
import { BatchedRead } from './batched-read.js';

describe('BatchedRead', () => {
  it('reads the keys asked for in one turn with one query, each distinct key once', async () => {
    const queries: string[][] = [];
    const reader = new BatchedRead<number>(async (keys) => {
      queries.push(keys);
      return new Map(keys.filter((key) => key !== 'missing').map((key) => [key, key.length]));
    }, 10);
    const answers = await Promise.all([reader.load('a'), reader.load('bb'), reader.load('a'), reader.load('missing')]);
    expect(answers).toEqual([1, 2, 1, undefined]);
    expect(queries).toEqual([['a', 'bb', 'missing']]);
  });

  it('never answers a key from a query sent before it was asked for (it is not a cache)', async () => {
    let value = 1;
    const queries: string[][] = [];
    const reader = new BatchedRead<number>(async (keys) => {
      queries.push(keys);
      const seen = value;
      await new Promise((done) => setTimeout(done, 5));
      return new Map(keys.map((key) => [key, seen]));
    }, 10);
    const first = reader.load('k');
    await new Promise((done) => setImmediate(done)); // the first query is on its way
    value = 2; // a write committed before the second read is asked for
    const second = reader.load('k');
    expect(await first).toBe(1);
    expect(await second).toBe(2);
    expect(queries).toEqual([['k'], ['k']]);
  });

  it('splits a batch at maxKeys', async () => {
    const queries: string[][] = [];
    const reader = new BatchedRead<string>(async (keys) => {
      queries.push(keys);
      return new Map(keys.map((key) => [key, key]));
    }, 2);
    expect(await Promise.all(['a', 'b', 'c'].map((key) => reader.load(key)))).toEqual(['a', 'b', 'c']);
    expect(queries).toEqual([['a', 'b'], ['c']]);
  });

  it('rejects every caller of a failed query, and only those', async () => {
    const reader = new BatchedRead<string>((keys) => {
      if (keys.includes('bad')) throw new Error('boom');
      return Promise.resolve(new Map(keys.map((key) => [key, key])));
    }, 1);
    const [bad, good] = await Promise.allSettled([reader.load('bad'), reader.load('good')]);
    expect(bad).toEqual({ status: 'rejected', reason: new Error('boom') });
    expect(good).toEqual({ status: 'fulfilled', value: 'good' });
  });

  it('refuses a limit that is not a positive integer', () => {
    expect(() => new BatchedRead<string>(() => Promise.resolve(new Map()), 0)).toThrow('maxKeys');
  });
});
