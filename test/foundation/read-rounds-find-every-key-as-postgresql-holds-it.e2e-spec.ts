import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { CommonError } from '../../src/common/errors/domain-error.js';
import { IdempotencyService } from '../../src/common/idempotency/idempotency.service.js';
import { ReadRound } from '../../src/common/read-round.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/** Text PostgreSQL can hold: anything but NUL. */
const text = fc.string({ unit: 'grapheme', maxLength: 40 }).map((value) => value.replaceAll('\u0000', ''));
const tricky = fc.constantFrom(
  "'",
  "''",
  '\\',
  "\\'",
  "'; DROP TABLE users; --",
  '$$',
  '"',
  '{',
  '}',
  ',',
  'NULL',
  '',
  ' ',
  '\n',
  ';\n',
  'é',
  '😀',
);

/**
 * ReadRound inlines the keys into the text of its statements (the simple protocol takes no
 * parameters). On PostgreSQL, every key must reach the query as exactly the value asked for, however
 * hostile, and the reads of one turn must each get their own statement's answer.
 */
describe('read rounds find every key as PostgreSQL holds it', () => {
  let app: TestApp;
  let round: ReadRound;

  beforeAll(async () => {
    app = await startTestApp();
    round = new ReadRound(app.dataSource);
  });

  afterAll(async () => {
    await app.close();
  });

  it('text keys: quotes, backslashes, statement separators, braces, NULL as a word and any Unicode come back as sent', async () => {
    const echo = round.reader<string>({
      keys: 'text',
      sql: (keys) => `SELECT k FROM unnest(${keys}) AS u (k)`,
      answer: (rows: { k: string }[]) => new Map(rows.map((row) => [row.k, row.k])),
      maxKeys: 7,
    });
    const samples = fc.sample(fc.array(fc.oneof(text, tricky), { minLength: 1, maxLength: 12 }), { numRuns: 100, seed: 23 });
    for (const keys of samples) {
      expect(await Promise.all(keys.map((key) => echo.load(key)))).toEqual(keys);
    }
    // NUL, which no PostgreSQL text holds, is no row, not an error for the round.
    expect(await Promise.all([echo.load('a\u0000b'), echo.load("it's")])).toEqual([undefined, "it's"]);
  });

  it('uuid keys in any case, and several readers in one turn each answered from its own statement', async () => {
    const ids = Array.from({ length: 5 }, () => randomUUID());
    const doubled = round.reader<string>({
      sql: (keys) => `SELECT k::text AS k, 'doubled:' || k::text AS v FROM unnest(${keys}) AS u (k)`,
      answer: (rows: { k: string; v: string }[]) => new Map(rows.map((row) => [row.k, row.v])),
      maxKeys: 2,
    });
    const counted = round.reader<number>({
      sql: (keys) => `SELECT k::text AS k, cardinality(${keys}) AS n FROM unnest(${keys}) AS u (k)`,
      answer: (rows: { k: string; n: number }[]) => new Map(rows.map((row) => [row.k, row.n])),
      maxKeys: 10,
    });
    const answers = await Promise.all([
      ...ids.map((id) => doubled.load(id.toUpperCase())),
      ...ids.map((id) => counted.load(id)),
      doubled.load('not a uuid'),
    ]);
    expect(answers).toEqual([...ids.map((id) => `doubled:${id}`), ...ids.map(() => ids.length), undefined]);
  });

  it('an Idempotency-Key with quotes and backslashes is found by the batched look-up', async () => {
    const keys = app.app.get(IdempotencyService);
    const request = {
      clientId: `client-"'\\-${randomUUID()}`,
      key: `k'\\";DROP_TABLE_idempotency_keys;--`,
      method: 'POST',
      path: '/v1/x',
    };
    expect((await keys.claim({ ...request, body: { amount: 1 } })).kind).toBe('proceed');
    // Found: the same key with another body is a reuse, refused.
    const reused = await keys.begin({ ...request, body: { amount: 2 } }, 200, []).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(reused).toBeInstanceOf(CommonError);
    expect((reused as CommonError).code).toBe('IDEMPOTENCY_KEY_REUSED');
    // Not found: a key never used is the handler's to claim.
    expect((await keys.begin({ ...request, key: `${request.key}'`, body: { amount: 2 } }, 200, [])).kind).toBe('in_transaction');
  });
});
