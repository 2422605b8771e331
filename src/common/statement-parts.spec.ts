import { describe, expect, it } from '@jest/globals';
import { composeParts, statementOf } from './statement-parts.js';

describe('statement parts', () => {
  const first = {
    ctes: [{ name: 'a_new', sql: 'INSERT INTO a SELECT * FROM unnest($1::int[], $2::text[]) RETURNING 1', rows: 2 }],
    parameters: [
      [1, 2],
      ['x', 'y'],
    ],
  };
  const second = {
    ctes: [
      { name: 'b_new', sql: 'INSERT INTO b SELECT $1 RETURNING id', rows: 1 },
      { name: 'c_new', sql: 'INSERT INTO c SELECT id FROM b_new WHERE $1 > 0 RETURNING 1' },
    ],
    parameters: [7],
  };

  it('numbers the parameters of each part after those of the statement and of the parts before it', () => {
    const composed = composeParts([first, second], 5);
    expect(composed.ctes).toBe(
      [
        'a_new AS (INSERT INTO a SELECT * FROM unnest($5::int[], $6::text[]) RETURNING 1)',
        'b_new AS (INSERT INTO b SELECT $7 RETURNING id)',
        'c_new AS (INSERT INTO c SELECT id FROM b_new WHERE $7 > 0 RETURNING 1)',
      ].join(',\n'),
    );
    expect(composed.parameters).toEqual([[1, 2], ['x', 'y'], 7]);
    // Only CTEs that state their rows are required.
    expect(composed.requirements).toEqual(['(SELECT count(*) FROM a_new) = 2', '(SELECT count(*) FROM b_new) = 1']);
  });

  it('refuses a CTE name that is not a plain identifier (it goes into SQL text)', () => {
    expect(() => composeParts([{ ctes: [{ name: 'x; DROP TABLE y', sql: 'SELECT 1' }], parameters: [] }], 1)).toThrow('not a plain name');
  });

  it('makes a statement of its own that requires every count, with the message quoted and the arrays as literals', () => {
    expect(statementOf([], 'nothing')).toBeUndefined();
    expect(statementOf([first, second], "a part's rows")).toEqual({
      sql: "WITH a_new AS (INSERT INTO a SELECT * FROM unnest($1::int[], $2::text[]) RETURNING 1),\nb_new AS (INSERT INTO b SELECT $3 RETURNING id),\nc_new AS (INSERT INTO c SELECT id FROM b_new WHERE $3 > 0 RETURNING 1) SELECT statement_require((SELECT count(*) FROM a_new) = 2 AND (SELECT count(*) FROM b_new) = 1, 'a part''s rows')",
      parameters: ['{"1","2"}', '{"x","y"}', 7],
    });
  });
});
