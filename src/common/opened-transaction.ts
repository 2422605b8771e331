import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { isLowerCaseUuid } from './ids.js';

/** The answer to one statement of a multi-statement query (PostgreSQL's simple protocol), as `pg` gives it. */
export interface StatementResult {
  readonly command: string;
  readonly rows: unknown[];
}

/** The part of a `pg` client used here: a query of several statements answers with one result a statement. */
interface RawClient {
  query(text: string): Promise<StatementResult | StatementResult[]>;
}

/**
 * `'{a,b}'::uuid[]`, for ids that go into the text of an opening statement (which takes no parameters).
 * Only strict lower-case UUIDs may: anything else is refused here, as this text goes into SQL.
 */
export function uuidArrayLiteral(ids: readonly string[]): string {
  for (const id of ids) if (!isLowerCaseUuid(id)) throw new Error('only lower-case UUIDs may be inlined into SQL');
  return `'{${ids.join(',')}}'::uuid[]`;
}

/**
 * A transaction whose first round trip to the database carries `BEGIN` and the caller's opening
 * statements (its row locks and reads, as SQL text without parameters), answered together: a hot
 * path saves one round trip a statement. Each statement still runs on its own, in order, with its own
 * snapshot (READ COMMITTED), so a read placed after a lock sees what was committed before the lock was
 * granted, exactly as if they were sent one by one. `work` gets the results (one a statement, in
 * order) and the transaction's manager for the rest; then COMMIT, checked; anything thrown rolls back.
 */
export async function transactionOpenedWith<T>(
  dataSource: DataSource,
  opening: readonly string[],
  work: (manager: EntityManager, results: readonly StatementResult[]) => Promise<T>,
): Promise<T> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    const results = await runStatements(runner, ['BEGIN', ...opening]);
    const outcome = await work(runner.manager, results.slice(1));
    const [committed] = await runStatements(runner, ['COMMIT']);
    // PostgreSQL answers COMMIT of a failed transaction with ROLLBACK, not an error.
    if (committed?.command !== 'COMMIT') throw new Error('the transaction was rolled back at COMMIT');
    return outcome;
  } catch (error) {
    await runStatements(runner, ['ROLLBACK']).catch(() => undefined);
    throw error;
  } finally {
    await runner.release();
  }
}

/**
 * `statements` sent as one query of several (PostgreSQL's simple protocol, so no parameters) on the
 * runner's connection: one result a statement, in order, or an error if the count differs.
 */
export async function runStatements(runner: QueryRunner, statements: readonly string[]): Promise<StatementResult[]> {
  const client = (await runner.connect()) as RawClient;
  const answer = await client.query(statements.join(';\n'));
  const results = Array.isArray(answer) ? answer : [answer];
  if (results.length !== statements.length) throw new Error(`${statements.length} statements had ${results.length} results`);
  return results;
}
