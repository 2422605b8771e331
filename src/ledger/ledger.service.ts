import { Injectable } from '@nestjs/common';
import { v7 as uuidv7 } from 'uuid';
import { DataSource, type EntityManager } from 'typeorm';
import { canonicalJson } from '../common/canonical-json.js';
import { Clock } from '../common/clock/clock.js';
import { isCurrencyCode } from '../common/money/currency.js';
import { LedgerError, LedgerErrorCode } from './ledger.errors.js';
import type { Account, CommandResult, LedgerCommand } from './ledger.types.js';
import { accountFromRow, PostingEngine } from './posting-engine.js';

export interface NewAccount {
  readonly id?: string;
  readonly code: string;
  readonly currency: string;
  readonly debitsMustNotExceedCredits?: boolean;
  readonly creditsMustNotExceedDebits?: boolean;
  readonly metadata?: Record<string, unknown> | null;
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
    const inserted: Parameters<typeof accountFromRow>[0][] = await runner.query(
      `INSERT INTO ledger_accounts (id, code, currency, debits_must_not_exceed_credits, credits_must_not_exceed_debits, metadata, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (code) DO NOTHING
       RETURNING *`,
      [
        input.id ?? uuidv7(),
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

  async findAccount(id: string, manager?: EntityManager): Promise<Account | null> {
    const rows: Parameters<typeof accountFromRow>[0][] = await (manager ?? this.dataSource.manager).query(
      'SELECT * FROM ledger_accounts WHERE id = $1',
      [id],
    );
    return rows[0] ? accountFromRow(rows[0]) : null;
  }

  async findAccountByCode(code: string, manager?: EntityManager): Promise<Account | null> {
    const rows: Parameters<typeof accountFromRow>[0][] = await (manager ?? this.dataSource.manager).query(
      'SELECT * FROM ledger_accounts WHERE code = $1',
      [code],
    );
    return rows[0] ? accountFromRow(rows[0]) : null;
  }

  /**
   * Applies commands through the posting engine's batcher: many callers share one database
   * transaction. `linked`: all succeed or none does. One result a command, in order.
   */
  submit(commands: readonly LedgerCommand[], options: { linked?: boolean } = {}): Promise<CommandResult[]> {
    return this.engine.submit({ commands, linked: options.linked ?? false });
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
}
