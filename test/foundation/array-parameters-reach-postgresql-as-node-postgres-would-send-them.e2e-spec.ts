import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { arrayLiteral } from '../../src/common/pg-array.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/** Text PostgreSQL can hold: anything but NUL. */
const text = fc.string({ unit: 'grapheme', maxLength: 40 }).map((value) => value.replaceAll('\u0000', ''));
const tricky = fc.constantFrom('', 'NULL', 'null', ' ', '"', '\\', '\\"', '{', '}', ',', '{a,b}', 'a b', '\n', '\t', 'é', '中', '😀');

/**
 * The batched statements send their `unnest` arrays as literals built by arrayLiteral instead of
 * node-postgres's own serialization: PostgreSQL must read the same array from both, for every type the
 * statements use.
 */
describe('array parameters reach PostgreSQL as node-postgres would send them', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp();
  });

  afterAll(async () => {
    await app.close();
  });

  /** Each sample once as our literal and once as node-postgres's array: the same value of `type`? */
  async function sameAs(type: string, samples: readonly (readonly unknown[])[]): Promise<void> {
    for (const values of samples) {
      const [row] = (await app.dataSource.query(
        `SELECT $1::${type} IS NOT DISTINCT FROM $2::${type} AS same, cardinality($1::${type}) AS n`,
        [arrayLiteral(values), values],
      )) as [{ same: boolean; n: number }];
      expect({ values, ...row }).toEqual({ values, same: true, n: values.length });
    }
  }

  it('text, with quotes, backslashes, braces, commas, spaces, NULL as a word and any Unicode', async () => {
    await sameAs(
      'text[]',
      fc.sample(fc.array(fc.option(fc.oneof(text, tricky), { nil: null }), { maxLength: 8 }), { numRuns: 300, seed: 7 }),
    );
  });

  it('jsonb, from JSON text of any shape', async () => {
    const json = fc.jsonValue().map((value) => JSON.stringify(value));
    await sameAs('jsonb[]', fc.sample(fc.array(fc.option(json, { nil: null }), { maxLength: 6 }), { numRuns: 200, seed: 11 }));
  });

  it('timestamptz from Dates (the same instant, whatever the time zone), bigint, int, boolean and uuid', async () => {
    const date = fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2200-01-01T00:00:00Z'), noInvalidDate: true });
    const now = new Date();
    await sameAs('timestamptz[]', [
      [now, now, null, now],
      ...fc.sample(fc.array(fc.option(date, { nil: null }), { maxLength: 6 }), { numRuns: 100, seed: 13 }),
    ]);
    await sameAs(
      'bigint[]',
      fc.sample(fc.array(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), { maxLength: 6 }), { numRuns: 100, seed: 17 }),
    );
    await sameAs('int[]', fc.sample(fc.array(fc.option(fc.integer(), { nil: null }), { maxLength: 6 }), { numRuns: 100, seed: 19 }));
    await sameAs('boolean[]', [[true, false, null]]);
    await sameAs('uuid[]', fc.sample(fc.array(fc.uuid(), { maxLength: 6 }), { numRuns: 50, seed: 23 }));
  });
});
