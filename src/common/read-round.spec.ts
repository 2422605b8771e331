import { describe, expect, it } from '@jest/globals';
import type { DataSource } from 'typeorm';
import type { StatementResult } from './opened-transaction.js';
import { ReadRound } from './read-round.js';

const A = '00000000-0000-4000-8000-00000000000a';
const B = '00000000-0000-4000-8000-00000000000b';
const C = '00000000-0000-4000-8000-00000000000c';

/**
 * A database that answers each statement `SELECT <table> <literal>` with one row `{ id, table }` for
 * each id of the literal (except the ids listed in `missing`), and records every query it is sent.
 */
function fakeDatabase(options: { missing?: string[]; fail?: Error; delayMs?: number } = {}) {
  const queries: string[] = [];
  const released: boolean[] = [];
  const client = {
    async query(text: string): Promise<StatementResult | StatementResult[]> {
      queries.push(text);
      if (options.delayMs !== undefined) await new Promise((done) => setTimeout(done, options.delayMs));
      if (options.fail) throw options.fail;
      const results = text.split(';\n').map((statement): StatementResult => {
        const ids = /'\{([^}]*)\}'::uuid\[\]/.exec(statement)?.[1]?.split(',') ?? [];
        return {
          command: 'SELECT',
          rows: ids.filter((id) => !options.missing?.includes(id)).map((id) => ({ id, table: statement.split(' ')[1] })),
        };
      });
      return results.length === 1 ? results[0]! : results;
    },
  };
  const dataSource = {
    createQueryRunner: () => ({
      connect: () => Promise.resolve(client),
      release: () => {
        released.push(true);
        return Promise.resolve();
      },
    }),
  } as unknown as DataSource;
  return { dataSource, queries, released };
}

type Row = { id: string; table: string };
const byId = (rows: Row[]) => new Map(rows.map((row) => [row.id, row.table]));

describe('ReadRound', () => {
  it("sends every reader's ids asked for in one turn as one query, a statement a reader, each id once", async () => {
    const db = fakeDatabase({ missing: [C] });
    const round = new ReadRound(db.dataSource);
    const users = round.reader({ sql: (ids) => `SELECT users ${ids}`, answer: byId, maxKeys: 10 });
    const policies = round.reader({ sql: (ids) => `SELECT policies ${ids}`, answer: byId, maxKeys: 10 });
    const answers = await Promise.all([users.load(A), policies.load(B), users.load(A.toUpperCase()), users.load(C)]);
    expect(answers).toEqual(['users', 'policies', 'users', undefined]);
    expect(db.queries).toEqual([`SELECT users '{${A},${C}}'::uuid[];\nSELECT policies '{${B}}'::uuid[]`]);
    expect(db.released).toHaveLength(1);
  });

  it('never answers an id from a query sent before it was asked for (it is not a cache)', async () => {
    const db = fakeDatabase({ delayMs: 5 });
    const round = new ReadRound(db.dataSource);
    const users = round.reader({ sql: (ids) => `SELECT users ${ids}`, answer: byId, maxKeys: 10 });
    const first = users.load(A);
    await new Promise((done) => setImmediate(done)); // the first round is on its way
    const second = users.load(A);
    expect(await Promise.all([first, second])).toEqual(['users', 'users']);
    expect(db.queries).toHaveLength(2);
  });

  it('answers an id that is not a uuid as no row, without putting it into SQL', async () => {
    const db = fakeDatabase();
    const round = new ReadRound(db.dataSource);
    const users = round.reader({ sql: (ids) => `SELECT users ${ids}`, answer: byId, maxKeys: 10 });
    expect(await Promise.all([users.load("x'); DROP TABLE users; --"), users.load(A)])).toEqual([undefined, 'users']);
    expect(db.queries).toEqual([`SELECT users '{${A}}'::uuid[]`]);
    expect(await users.load('not-a-uuid')).toBeUndefined();
    expect(db.queries).toHaveLength(1);
  });

  it("splits a reader's ids at maxKeys into statements of the same round", async () => {
    const db = fakeDatabase();
    const round = new ReadRound(db.dataSource);
    const users = round.reader({ sql: (ids) => `SELECT users ${ids}`, answer: byId, maxKeys: 2 });
    expect(await Promise.all([A, B, C].map((id) => users.load(id)))).toEqual(['users', 'users', 'users']);
    expect(db.queries).toEqual([`SELECT users '{${A},${B}}'::uuid[];\nSELECT users '{${C}}'::uuid[]`]);
  });

  it('fails every read of a round whose query fails; a reader whose answer throws fails only its own callers', async () => {
    const failing = fakeDatabase({ fail: new Error('connection lost') });
    const round = new ReadRound(failing.dataSource);
    const users = round.reader({ sql: (ids) => `SELECT users ${ids}`, answer: byId, maxKeys: 10 });
    const policies = round.reader({ sql: (ids) => `SELECT policies ${ids}`, answer: byId, maxKeys: 10 });
    const settled = await Promise.allSettled([users.load(A), policies.load(B)]);
    expect(settled.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected']);
    expect(failing.released).toHaveLength(1);

    const db = fakeDatabase();
    const shared = new ReadRound(db.dataSource);
    const broken = shared.reader<string>({
      sql: (ids) => `SELECT broken ${ids}`,
      answer: () => {
        throw new Error('bad row');
      },
      maxKeys: 10,
    });
    const fine = shared.reader({ sql: (ids) => `SELECT fine ${ids}`, answer: byId, maxKeys: 10 });
    const [bad, good] = await Promise.allSettled([broken.load(A), fine.load(A)]);
    expect(bad).toEqual({ status: 'rejected', reason: new Error('bad row') });
    expect(good).toEqual({ status: 'fulfilled', value: 'fine' });
    expect(db.queries).toHaveLength(1);
  });

  it('refuses a limit that is not a positive integer', () => {
    const round = new ReadRound(fakeDatabase().dataSource);
    expect(() => round.reader({ sql: (ids) => ids, answer: byId, maxKeys: 0 })).toThrow('maxKeys');
  });
});
