import { Injectable } from '@nestjs/common';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { isLowerCaseUuid } from './ids.js';
import { runStatements, type StatementResult, uuidArrayLiteral } from './opened-transaction.js';
import { arrayLiteral } from './pg-array.js';

/** A read by key that can join a round: its query, given the keys, and what its rows answer. */
export interface RoundQuery<Value> {
  /**
   * What the keys are: uuids (the default; compared in lower case, as PostgreSQL writes them) or any
   * text without NUL (compared as it is).
   */
  readonly keys?: 'uuid' | 'text';
  /** The query, given the keys as an SQL expression of type `uuid[]` or `text[]` (an inlined literal). */
  readonly sql: (keys: string) => string;
  /** The rows by key; a key missing from the map reads as undefined. */
  readonly answer: (rows: never[]) => Map<string, Value> | Promise<Map<string, Value>>;
  /** The most keys one statement asks for; more go in further statements of the same round. */
  readonly maxKeys: number;
}

export interface RoundReader<Value> {
  /** The value read for `key`, by a query sent after this call (never one already on its way). */
  load(key: string): Promise<Value | undefined>;
}

interface Waiter {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

function keysLiteral(query: RoundQuery<unknown>, keys: readonly string[]): string {
  return query.keys === 'text' ? `${pg.escapeLiteral(arrayLiteral(keys))}::text[]` : uuidArrayLiteral(keys);
}

/**
 * Read coalescing across modules: every read by key asked for in one turn of the event loop, whatever
 * module asks, goes to the database in one round trip, as one query of several statements (one a
 * reader, PostgreSQL's simple protocol), instead of one query a reader on as many connections. A waiver
 * decision reads a policy, the user, the identity record, the credit report, the payment signals and
 * the agreements: six round trips and six wake-ups of a PostgreSQL backend a turn before, one now.
 *
 * It is not a cache: a key joins only a round that has not been sent, so every answer was read after
 * its caller asked; rounds are independent and several may be in flight. Each statement has its own
 * snapshot (READ COMMITTED), as separate queries had. The keys are inlined into the statements' text
 * (the simple protocol takes no parameters): uuid keys only as strict uuids (one that is not is
 * answered `undefined`, as no row has it, without reaching SQL), text keys as an array literal escaped
 * by node-postgres's own `escapeLiteral` (a key with a NUL, which no PostgreSQL text holds, is answered
 * `undefined`). If the round's query fails, every read in it fails with that error. Outside
 * transactions only.
 */
@Injectable()
export class ReadRound {
  private pending: Map<RoundQuery<unknown>, Map<string, Waiter[]>> | undefined;

  constructor(private readonly dataSource: DataSource) {}

  reader<Value>(query: RoundQuery<Value>): RoundReader<Value> {
    if (!Number.isSafeInteger(query.maxKeys) || query.maxKeys < 1)
      throw new Error(`ReadRound: maxKeys must be a positive integer, got ${query.maxKeys}`);
    return { load: (key) => this.load(query as RoundQuery<unknown>, key) as Promise<Value | undefined> };
  }

  private load(query: RoundQuery<unknown>, asked: string): Promise<unknown> {
    const key = query.keys === 'text' ? asked : asked.toLowerCase();
    if (query.keys === 'text' ? key.includes('\0') : !isLowerCaseUuid(key)) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      if (this.pending === undefined) {
        this.pending = new Map();
        setImmediate(() => void this.send());
      }
      let keys = this.pending.get(query);
      if (keys === undefined) this.pending.set(query, (keys = new Map()));
      const waiters = keys.get(key);
      if (waiters === undefined) keys.set(key, [{ resolve, reject }]);
      else waiters.push({ resolve, reject });
    });
  }

  private async send(): Promise<void> {
    const round = this.pending;
    this.pending = undefined;
    if (round === undefined) return;
    const parts: { query: RoundQuery<unknown>; keys: string[]; waiters: Map<string, Waiter[]> }[] = [];
    for (const [query, waiters] of round) {
      const keys = [...waiters.keys()];
      for (let start = 0; start < keys.length; start += query.maxKeys)
        parts.push({ query, keys: keys.slice(start, start + query.maxKeys), waiters });
    }
    let results: StatementResult[];
    try {
      results = await this.run(parts.map((part) => part.query.sql(keysLiteral(part.query, part.keys))));
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
            for (const key of part.keys) for (const waiter of part.waiters.get(key) ?? []) waiter.resolve(values.get(key));
          },
          (error: unknown) => {
            for (const key of part.keys) for (const waiter of part.waiters.get(key) ?? []) waiter.reject(error);
          },
        );
    });
  }

  private async run(statements: readonly string[]): Promise<StatementResult[]> {
    const runner = this.dataSource.createQueryRunner();
    try {
      return await runStatements(runner, statements);
    } finally {
      await runner.release();
    }
  }
}
