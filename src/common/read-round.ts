import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { type StatementResult, uuidArrayLiteral } from './opened-transaction.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A read by id that can join a round: its query, given the ids, and what its rows answer. */
export interface RoundQuery<Value> {
  /** The query, given the ids as an SQL expression of type `uuid[]` (an inlined literal of checked uuids). */
  readonly sql: (ids: string) => string;
  /** The rows by id (lower case, as PostgreSQL writes a uuid); an id missing from the map reads as undefined. */
  readonly answer: (rows: never[]) => Map<string, Value> | Promise<Map<string, Value>>;
  /** The most ids one statement asks for; more go in further statements of the same round. */
  readonly maxIds: number;
}

export interface RoundReader<Value> {
  /** The value read for `id`, by a query sent after this call (never one already on its way). */
  load(id: string): Promise<Value | undefined>;
}

interface Waiter {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/** The part of a `pg` client used here: a query of several statements answers with one result a statement. */
interface RawClient {
  query(text: string): Promise<StatementResult | StatementResult[]>;
}

/**
 * Read coalescing across modules: every read by id asked for in one turn of the event loop, whatever
 * module asks, goes to the database in one round trip, as one query of several statements (one a
 * reader, PostgreSQL's simple protocol), instead of one query a reader on as many connections. A waiver
 * decision reads a policy, the user, the identity record, the credit report, the payment signals and
 * the agreements: six round trips and six wake-ups of a PostgreSQL backend a turn before, one now.
 *
 * Like BatchedRead it is not a cache: an id joins only a round that has not been sent, so every
 * answer was read after its caller asked; rounds are independent and several may be in flight. Each
 * statement has its own snapshot (READ COMMITTED), as separate queries had. The ids are inlined into
 * the statements' text (the simple protocol takes no parameters): only strict uuids may be, so an id
 * that is not one is answered `undefined` (no row has it) without reaching SQL. If the round's query
 * fails, every read in it fails with that error. Outside transactions only.
 */
@Injectable()
export class ReadRound {
  private pending: Map<RoundQuery<unknown>, Map<string, Waiter[]>> | undefined;

  constructor(private readonly dataSource: DataSource) {}

  reader<Value>(query: RoundQuery<Value>): RoundReader<Value> {
    if (!Number.isSafeInteger(query.maxIds) || query.maxIds < 1)
      throw new Error(`ReadRound: maxIds must be a positive integer, got ${query.maxIds}`);
    return { load: (id) => this.load(query as RoundQuery<unknown>, id) as Promise<Value | undefined> };
  }

  private load(query: RoundQuery<unknown>, id: string): Promise<unknown> {
    const key = id.toLowerCase();
    if (!UUID.test(key)) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      if (this.pending === undefined) {
        this.pending = new Map();
        setImmediate(() => void this.send());
      }
      let ids = this.pending.get(query);
      if (ids === undefined) this.pending.set(query, (ids = new Map()));
      const waiters = ids.get(key);
      if (waiters === undefined) ids.set(key, [{ resolve, reject }]);
      else waiters.push({ resolve, reject });
    });
  }

  private async send(): Promise<void> {
    const round = this.pending;
    this.pending = undefined;
    if (round === undefined) return;
    const parts: { query: RoundQuery<unknown>; ids: string[]; waiters: Map<string, Waiter[]> }[] = [];
    for (const [query, waiters] of round) {
      const ids = [...waiters.keys()];
      for (let start = 0; start < ids.length; start += query.maxIds)
        parts.push({ query, ids: ids.slice(start, start + query.maxIds), waiters });
    }
    let results: StatementResult[];
    try {
      results = await this.run(parts.map((part) => part.query.sql(uuidArrayLiteral(part.ids))));
    } catch (error) {
      for (const waiters of round.values()) for (const list of waiters.values()) for (const waiter of list) waiter.reject(error);
      return;
    }
    parts.forEach((part, index) => {
      // Each part answers its own callers: one whose answer throws fails only them.
      Promise.resolve()
        .then(() => part.query.answer((results[index]?.rows ?? []) as never[]))
        .then(
          (values) => {
            for (const id of part.ids) for (const waiter of part.waiters.get(id) ?? []) waiter.resolve(values.get(id));
          },
          (error: unknown) => {
            for (const id of part.ids) for (const waiter of part.waiters.get(id) ?? []) waiter.reject(error);
          },
        );
    });
  }

  private async run(statements: readonly string[]): Promise<StatementResult[]> {
    const runner = this.dataSource.createQueryRunner();
    try {
      const client = (await runner.connect()) as RawClient;
      const answer = await client.query(statements.join(';\n'));
      const results = Array.isArray(answer) ? answer : [answer];
      if (results.length !== statements.length)
        throw new Error(`a read round of ${statements.length} statements had ${results.length} results`);
      return results;
    } finally {
      await runner.release();
    }
  }
}
