import { Injectable } from '@nestjs/common';
import { v5 as uuidv5 } from 'uuid';
import { isLowerCaseUuid, newId } from '../common/ids.js';
import { DataSource, type EntityManager } from 'typeorm';
import { canonicalJson } from '../common/canonical-json.js';
import type { AuditEventInput } from '../audit/audit-event.js';
import { Clock } from '../common/clock/clock.js';
import { CommonError, CommonErrorCode, ErrorKind } from '../common/errors/domain-error.js';
import { isCurrencyCode } from '../common/money/currency.js';
import { decodeCursor, type Page, toPage } from '../common/pagination/cursor.js';
import { GENESIS_HASH } from './ledger-hashing.js';
import { LedgerError, LedgerErrorCode } from './ledger.errors.js';
import type { Account, Balances, CommandResult, Entry, LedgerCommand, Transfer, TransferStatus } from './ledger.types.js';
import type { StatementResult } from '../common/opened-transaction.js';
import type { StatementPart } from '../common/statement-parts.js';
import {
  type AccountRow,
  accountFromRow,
  type EntryRow,
  entryFromRow,
  type LockedRows,
  lockStatements,
  PostingEngine,
  transferFromRow,
  type TransferRow,
} from './posting-engine.js';

/** Namespace of the default ids of resolutions: uuidv5("<pendingId>:<action>"). */
const RESOLUTION_NAMESPACE = '0a8c2b6e-3d57-5e0b-9a43-6c1f2f5d8e21';

/** The id a resolution gets when its caller does not choose one: the same for every retry of it. */
export function defaultResolutionId(pendingId: string, action: 'post' | 'void' | 'expire'): string {
  return uuidv5(`${pendingId}:${action}`, RESOLUTION_NAMESPACE);
}

export interface SubmitOptions {
  /** All succeed or none does. */
  readonly linked?: boolean;
  /** The audit event of this submission, from its results, committed with its transfers. */
  readonly audit?: (results: readonly CommandResult[]) => AuditEventInput | null;
}

export interface TransferFilter {
  readonly accountId?: string;
  readonly status?: TransferStatus;
  readonly from?: Date;
  readonly to?: Date;
}

export interface CurrencyTotals extends Balances {
  readonly currency: string;
  readonly accounts: number;
  readonly balanced: boolean;
}

export interface NewAccount {
  readonly id?: string;
  readonly code: string;
  readonly currency: string;
  readonly debitsMustNotExceedCredits?: boolean;
  readonly creditsMustNotExceedDebits?: boolean;
  readonly metadata?: Record<string, unknown> | null;
}

function cursorSeq(cursor: string): bigint {
  const { key } = decodeCursor(cursor);
  if (!/^\d{1,19}$/.test(key))
    throw new CommonError(ErrorKind.InvalidInput, CommonErrorCode.InvalidCursor, 'cursor is not one this API returned.');
  return BigInt(key);
}

const ACCOUNT_CODE = /^[a-z][a-z0-9_-]*(:[A-Za-z0-9_.-]+)+$/;

/** The ledger's facade: the only way other modules reach accounts and transfers. */
@Injectable()
export class LedgerService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly engine: PostingEngine,
    private readonly clock: Clock,
  ) {}

  /**
   * Opens an account, or returns the one with this code when every field matches (so "create on
   * demand" is safe to repeat and to race); a different account under the same code is refused.
   */
  async openAccount(input: NewAccount, manager?: EntityManager): Promise<{ account: Account; created: boolean }> {
    if (!ACCOUNT_CODE.test(input.code) || input.code.length > 160) {
      throw new LedgerError(
        LedgerErrorCode.InvalidCommand,
        'An account code is `kind:part[:part...]`, like `user:<id>:wallet`, at most 160 characters.',
      );
    }
    if (!isCurrencyCode(input.currency)) throw new LedgerError(LedgerErrorCode.InvalidCommand, 'The currency must be an ISO 4217 code.');
    if (input.debitsMustNotExceedCredits && input.creditsMustNotExceedDebits) {
      throw new LedgerError(
        LedgerErrorCode.InvalidCommand,
        'An account takes at most one of debitsMustNotExceedCredits and creditsMustNotExceedDebits.',
      );
    }
    const runner = manager ?? this.dataSource.manager;
    const inserted: AccountRow[] = await runner.query(
      `INSERT INTO ledger_accounts (id, code, currency, debits_must_not_exceed_credits, credits_must_not_exceed_debits, metadata, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (code) DO NOTHING
       RETURNING *`,
      [
        input.id ?? newId(),
        input.code,
        input.currency,
        input.debitsMustNotExceedCredits ?? false,
        input.creditsMustNotExceedDebits ?? false,
        input.metadata ?? null,
        this.clock.now(),
      ],
    );
    if (inserted[0] !== undefined) return { account: accountFromRow(inserted[0]), created: true };
    const existing = await this.findAccountByCode(input.code, runner);
    if (existing === null) throw new Error(`account ${input.code} conflicted but cannot be read`);
    const differs = (field: string) =>
      new LedgerError(LedgerErrorCode.AccountCodeTaken, `Account ${input.code} exists with a different ${field}.`, {
        extensions: { code: input.code, field },
      });
    if (input.id !== undefined && existing.id !== input.id) throw differs('id');
    if (existing.currency !== input.currency) throw differs('currency');
    if (existing.debitsMustNotExceedCredits !== (input.debitsMustNotExceedCredits ?? false)) throw differs('debitsMustNotExceedCredits');
    if (existing.creditsMustNotExceedDebits !== (input.creditsMustNotExceedDebits ?? false)) throw differs('creditsMustNotExceedDebits');
    if (input.metadata !== undefined && canonicalJson(input.metadata ?? null) !== canonicalJson(existing.metadata))
      throw differs('metadata');
    return { account: existing, created: false };
  }

  /**
   * Closes an account: no new transfer may touch it (pending ones may still be resolved). Refused while
   * it has pending amounts; closing a closed account returns it unchanged.
   */
  async closeAccount(id: string): Promise<Account | null> {
    return this.dataSource.transaction(async (manager) => {
      const rows: AccountRow[] = await manager.query('SELECT * FROM ledger_accounts WHERE id = $1 FOR UPDATE', [id]);
      const row = rows[0];
      if (row === undefined) return null;
      const account = accountFromRow(row);
      if (account.closedAt !== null) return account;
      if (account.debitsPending !== 0n || account.creditsPending !== 0n) {
        throw new LedgerError(LedgerErrorCode.AccountHasPending, `Account ${account.code} has pending transfers; resolve them first.`, {
          extensions: { accountId: id },
        });
      }
      // TypeORM answers UPDATE ... RETURNING with [rows, count].
      const [closed]: [AccountRow[], number] = await manager.query('UPDATE ledger_accounts SET closed_at = $2 WHERE id = $1 RETURNING *', [
        id,
        this.clock.now(),
      ]);
      if (closed[0] === undefined) throw new Error(`account ${id} vanished while closing`);
      return accountFromRow(closed[0]);
    });
  }

  async findAccount(id: string, manager?: EntityManager): Promise<Account | null> {
    const rows: AccountRow[] = await (manager ?? this.dataSource.manager).query('SELECT * FROM ledger_accounts WHERE id = $1', [id]);
    return rows[0] ? accountFromRow(rows[0]) : null;
  }

  async findAccountByCode(code: string, manager?: EntityManager): Promise<Account | null> {
    const rows: AccountRow[] = await (manager ?? this.dataSource.manager).query('SELECT * FROM ledger_accounts WHERE code = $1', [code]);
    return rows[0] ? accountFromRow(rows[0]) : null;
  }

  /** An account with its balances as of a moment: those after its last entry at or before it. */
  async accountAsOf(id: string, asOf: Date): Promise<Account | null> {
    const account = await this.findAccount(id);
    if (account === null) return null;
    const rows: EntryRow[] = await this.dataSource.query(
      'SELECT * FROM ledger_entries WHERE account_id = $1 AND created_at <= $2 ORDER BY created_at DESC, seq DESC LIMIT 1',
      [id, asOf],
    );
    const last = rows[0] ? entryFromRow(rows[0]) : undefined;
    return {
      ...account,
      debitsPending: last?.debitsPending ?? 0n,
      debitsPosted: last?.debitsPosted ?? 0n,
      creditsPending: last?.creditsPending ?? 0n,
      creditsPosted: last?.creditsPosted ?? 0n,
      headSeq: last?.seq ?? 0n,
      headHash: last?.hash ?? GENESIS_HASH,
    };
  }

  /** Several accounts read in one statement: one consistent snapshot. Unknown ids are left out. */
  async accounts(ids: readonly string[]): Promise<Account[]> {
    const rows: AccountRow[] = await this.dataSource.query('SELECT * FROM ledger_accounts WHERE id = ANY($1::uuid[]) ORDER BY code', [
      [...new Set(ids)],
    ]);
    return rows.map(accountFromRow);
  }

  async entries(accountId: string, limit: number, cursor?: string): Promise<Page<Entry>> {
    const after = cursor === undefined ? 0n : cursorSeq(cursor);
    const rows: EntryRow[] = await this.dataSource.query(
      'SELECT * FROM ledger_entries WHERE account_id = $1 AND seq > $2 ORDER BY seq LIMIT $3',
      [accountId, after.toString(), limit + 1],
    );
    return toPage(rows, limit, (row) => ({ key: row.seq, id: row.account_id }), entryFromRow);
  }

  async findTransfer(id: string, manager?: EntityManager): Promise<Transfer | null> {
    const rows: TransferRow[] = await (manager ?? this.dataSource.manager).query('SELECT * FROM ledger_transfers WHERE id = $1', [id]);
    return rows[0] ? transferFromRow(rows[0]) : null;
  }

  /** Transfers newest first, by account, status and time. */
  async transfers(filter: TransferFilter, limit: number, cursor?: string): Promise<Page<Transfer>> {
    const after = cursor === undefined ? undefined : decodeCursor(cursor);
    const conditions: string[] = [];
    const parameters: unknown[] = [];
    const add = (sql: string, value: unknown): void => {
      parameters.push(value);
      conditions.push(sql.replace('?', `$${parameters.length}`));
    };
    if (filter.accountId !== undefined) {
      parameters.push(filter.accountId);
      conditions.push(`(debit_account_id = $${parameters.length} OR credit_account_id = $${parameters.length})`);
    }
    if (filter.status !== undefined) add('status = ?', filter.status);
    if (filter.from !== undefined) add('created_at >= ?', filter.from);
    if (filter.to !== undefined) add('created_at < ?', filter.to);
    if (after !== undefined) {
      const at = new Date(after.key);
      if (Number.isNaN(at.getTime()) || !isLowerCaseUuid(after.id))
        throw new CommonError(ErrorKind.InvalidInput, CommonErrorCode.InvalidCursor, 'cursor is not one this API returned.');
      parameters.push(at, after.id);
      conditions.push(`(created_at, id) < ($${parameters.length - 1}, $${parameters.length}::uuid)`);
    }
    parameters.push(limit + 1);
    const rows: TransferRow[] = await this.dataSource.query(
      `SELECT * FROM ledger_transfers ${conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT $${parameters.length}`,
      parameters,
    );
    return toPage(rows, limit, (row) => ({ key: row.created_at.toISOString(), id: row.id }), transferFromRow);
  }

  /** Totals per currency: debits equal credits, posted and pending alike, or the ledger is broken. */
  async trialBalance(): Promise<CurrencyTotals[]> {
    const rows: { currency: string; accounts: string; dp: string; dpo: string; cp: string; cpo: string }[] = await this.dataSource.query(
      `SELECT currency, count(*)::text AS accounts, sum(debits_pending)::text AS dp, sum(debits_posted)::text AS dpo,
              sum(credits_pending)::text AS cp, sum(credits_posted)::text AS cpo
         FROM ledger_accounts GROUP BY currency ORDER BY currency`,
    );
    return rows.map((row) => {
      const totals = {
        debitsPending: BigInt(row.dp),
        debitsPosted: BigInt(row.dpo),
        creditsPending: BigInt(row.cp),
        creditsPosted: BigInt(row.cpo),
      };
      return {
        currency: row.currency,
        accounts: Number(row.accounts),
        ...totals,
        balanced: totals.debitsPosted === totals.creditsPosted && totals.debitsPending === totals.creditsPending,
      };
    });
  }

  /**
   * Applies commands through the posting engine's batcher: many callers share one database
   * transaction. `linked`: all succeed or none does. One result a command, in order.
   */
  submit(commands: readonly LedgerCommand[], options: SubmitOptions = {}): Promise<CommandResult[]> {
    return this.engine.submit({ commands, linked: options.linked ?? false, audit: options.audit });
  }

  /**
   * Applies commands inside the caller's transaction, so that the caller's own state change and its
   * transfers commit together or not at all.
   */
  async submitWithin(
    manager: EntityManager,
    commands: readonly LedgerCommand[],
    options: { linked?: boolean } = {},
  ): Promise<CommandResult[]> {
    const [results] = await this.engine.execute(manager, [{ commands, linked: options.linked ?? false }]);
    return results ?? [];
  }

  /**
   * For a caller that opens its transaction with its own locks and the ledger's in one round trip
   * (transactionOpenedWith): the statements that lock `accountIds` (and any `pendingIds` with their
   * accounts) and read the transfers `transferIds`, to place after the caller's own locks, and how to
   * read their results for `submitGroupsLocked`. Commands submitted then must stay within these ids.
   */
  lockingStatements(scope: { accountIds: Iterable<string>; transferIds: readonly string[]; pendingIds?: readonly string[] }): {
    statements: readonly string[];
    read: (results: readonly StatementResult[]) => LockedRows;
  } {
    return lockStatements({ accountIds: new Set(scope.accountIds), ids: scope.transferIds, pendingIds: scope.pendingIds ?? [] });
  }

  /**
   * As submitGroupsWithin, against the rows the caller's transaction locked with `lockingStatements`.
   * `also`, given the results, may name the caller's own writes (statement parts) to make in the
   * ledger's statement: one round trip less each.
   */
  async submitGroupsLocked(
    manager: EntityManager,
    locked: LockedRows,
    groups: readonly (SubmitOptions & { commands: readonly LedgerCommand[] })[],
    also?: (results: readonly CommandResult[][]) => readonly StatementPart[],
  ): Promise<CommandResult[][]> {
    if (groups.length === 0) return [];
    return this.engine.executeLocked(
      manager,
      locked,
      groups.map((group) => ({ commands: group.commands, linked: group.linked ?? false, audit: group.audit })),
      also,
    );
  }

  /**
   * Tries groups of new transfers as one statement in a transaction of its own, from the accounts'
   * states the engine remembers, with the caller's own writes (`also`, made from the results) in the
   * same statement: one round trip and one commit, no locks taken first. Undefined when it could not
   * be done that way (an account not remembered or moved meanwhile, a refusal, a part whose rows did
   * not all change as the caller expected): then nothing was written, and the caller takes its
   * locking path. `also` must make each of its writes conditional on the state it read (for example
   * `WHERE status = ...` with the rows it expects), so that a change meanwhile fails the statement.
   */
  async submitGroupsFromRemembered(
    groups: readonly (SubmitOptions & { commands: readonly LedgerCommand[] })[],
    also: (results: readonly CommandResult[][]) => readonly StatementPart[],
  ): Promise<CommandResult[][] | undefined> {
    if (groups.length === 0) return undefined;
    return this.engine.writeFromRemembered(
      groups.map((group) => ({ commands: group.commands, linked: group.linked ?? false, audit: group.audit })),
      this.clock.now(),
      also,
    );
  }

  /**
   * Several independent groups inside the caller's transaction, written with one set of statements (a
   * caller batching many requests into one transaction). One result array a group, in order; each
   * group's audit event is written in the same transaction.
   */
  async submitGroupsWithin(
    manager: EntityManager,
    groups: readonly (SubmitOptions & { commands: readonly LedgerCommand[] })[],
  ): Promise<CommandResult[][]> {
    if (groups.length === 0) return [];
    return this.engine.execute(
      manager,
      groups.map((group) => ({ commands: group.commands, linked: group.linked ?? false, audit: group.audit })),
    );
  }
}
