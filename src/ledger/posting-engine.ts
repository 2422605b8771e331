import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { canonicalJson } from '../common/canonical-json.js';
import { AuditService } from '../audit/audit.service.js';
import type { AuditEventInput } from '../audit/audit-event.js';
import { Clock } from '../common/clock/clock.js';
import { GroupCommitter, type Settled } from '../common/group-commit.js';
import { isLowerCaseUuid } from '../common/ids.js';
import { isCurrencyCode } from '../common/money/currency.js';
import { type StatementResult, transactionOpenedWith, uuidArrayLiteral } from '../common/opened-transaction.js';
import { composeParts, type StatementPart, statementOf } from '../common/statement-parts.js';
import { withArrayLiterals } from '../common/pg-array.js';
import { entryHash, type EntrySide, transferDigest } from './ledger-hashing.js';
import { LedgerError, LedgerErrorCode } from './ledger.errors.js';
import {
  type Account,
  type CommandResult,
  type Entry,
  type LedgerCommand,
  MAX_BATCH_COMMANDS,
  MAX_METADATA_BYTES,
  MAX_TIMEOUT_SECONDS,
  type NewTransfer,
  type Resolution,
  type Transfer,
  type TransferKind,
  type TransferStatus,
} from './ledger.types.js';

/** Commands that succeed or fail together (`linked`), or each on its own. */
export interface CommandGroup {
  readonly commands: readonly LedgerCommand[];
  readonly linked: boolean;
  /**
   * The audit event of this group, made from its results and written in the same transaction as its
   * transfers (null: nothing to record). Its request context must be captured by the caller.
   */
  readonly audit?: (results: readonly CommandResult[]) => AuditEventInput | null;
}

const TRANSFER_CODE = /^[a-z][a-z0-9_.]{0,63}$/;
/** The largest value a PostgreSQL bigint holds. */
const BIGINT_MAX = 9_223_372_036_854_775_807n;
const MAX_AMOUNT = BigInt(Number.MAX_SAFE_INTEGER);
/** How many commands one database transaction of the batcher takes at most. */
const BATCH_LIMIT = 2000;
const BATCH_RETRIES = 3;
/** How many accounts' last committed states the engine remembers (the least recently written are forgotten first). */
const REMEMBERED_ACCOUNTS = 10_000;

export interface AccountRow {
  id: string;
  code: string;
  currency: string;
  debits_must_not_exceed_credits: boolean;
  credits_must_not_exceed_debits: boolean;
  debits_pending: string;
  debits_posted: string;
  credits_pending: string;
  credits_posted: string;
  head_seq: string;
  head_hash: string;
  metadata: Record<string, unknown> | null;
  created_at: Date;
  closed_at: Date | null;
}

export interface TransferRow {
  id: string;
  kind: TransferKind;
  debit_account_id: string;
  credit_account_id: string;
  amount: string;
  currency: string;
  code: string;
  metadata: Record<string, unknown> | null;
  pending_id: string | null;
  timeout_at: Date | null;
  status: TransferStatus;
  resolved_by: string | null;
  linked_batch_id: string | null;
  created_at: Date;
}

/** An entry as `pg` returns it (bigint columns as strings). */
export interface EntryRow {
  account_id: string;
  seq: string;
  transfer_id: string;
  side: 'debit' | 'credit';
  pending_delta: string;
  posted_delta: string;
  debits_pending: string;
  debits_posted: string;
  credits_pending: string;
  credits_posted: string;
  prev_hash: string;
  hash: string;
  created_at: Date;
}

export function entryFromRow(row: EntryRow): Entry {
  return {
    accountId: row.account_id,
    seq: BigInt(row.seq),
    transferId: row.transfer_id,
    side: row.side,
    pendingDelta: BigInt(row.pending_delta),
    postedDelta: BigInt(row.posted_delta),
    debitsPending: BigInt(row.debits_pending),
    debitsPosted: BigInt(row.debits_posted),
    creditsPending: BigInt(row.credits_pending),
    creditsPosted: BigInt(row.credits_posted),
    prevHash: row.prev_hash,
    hash: row.hash,
    createdAt: row.created_at,
  };
}

export function accountFromRow(row: AccountRow): Account {
  return {
    id: row.id,
    code: row.code,
    currency: row.currency,
    debitsMustNotExceedCredits: row.debits_must_not_exceed_credits,
    creditsMustNotExceedDebits: row.credits_must_not_exceed_debits,
    debitsPending: BigInt(row.debits_pending),
    debitsPosted: BigInt(row.debits_posted),
    creditsPending: BigInt(row.credits_pending),
    creditsPosted: BigInt(row.credits_posted),
    headSeq: BigInt(row.head_seq),
    headHash: row.head_hash,
    metadata: row.metadata,
    createdAt: row.created_at,
    closedAt: row.closed_at,
  };
}

export function transferFromRow(row: TransferRow): Transfer {
  return {
    id: row.id,
    kind: row.kind,
    debitAccountId: row.debit_account_id,
    creditAccountId: row.credit_account_id,
    amount: BigInt(row.amount),
    currency: row.currency,
    code: row.code,
    metadata: row.metadata,
    pendingId: row.pending_id,
    timeoutAt: row.timeout_at,
    status: row.status,
    resolvedBy: row.resolved_by,
    linkedBatchId: row.linked_batch_id,
    createdAt: row.created_at,
  };
}

/** An account as the engine works on it: balances and head move as commands apply. */
type AccountState = { -readonly [K in keyof Account]: Account[K] };

interface DraftEntry {
  accountId: string;
  seq: bigint;
  transferId: string;
  transferDigest: string;
  side: EntrySide;
  pendingDelta: bigint;
  postedDelta: bigint;
  debitsPending: bigint;
  debitsPosted: bigint;
  creditsPending: bigint;
  creditsPosted: bigint;
  prevHash: string;
  hash: string;
}

/**
 * Everything a batch will write, and the state it has reached. It changes only by a map's `set`
 * (setInDraft) and an array's `push`, never an object in place: a linked group that fails is taken
 * back in place (rollBack) in the time its own writes took, where copying the draft before each group
 * cost a batch of n linked payments time in n².
 */
interface Draft {
  accounts: Map<string, AccountState>;
  transfers: Map<string, Transfer>;
  inserts: Transfer[];
  resolutions: Map<string, { status: TransferStatus; resolvedBy: string }>;
  entries: DraftEntry[];
  /** While a linked group is applied: how to take back each of its map writes, in order. */
  undo: (() => void)[] | undefined;
}

/** Sets `key` in one of the draft's maps, remembering how to take it back while a linked group is applied. */
function setInDraft<K, V>(draft: Draft, map: Map<K, V>, key: K, value: V): void {
  if (draft.undo !== undefined) {
    if (map.has(key)) {
      const previous = map.get(key) as V;
      draft.undo.push(() => map.set(key, previous));
    } else {
      draft.undo.push(() => map.delete(key));
    }
  }
  map.set(key, value);
}

/** Takes the draft back to where it stood at `mark`, before the linked group being applied. */
function rollBack(draft: Draft, mark: { readonly inserts: number; readonly entries: number }): void {
  for (const undo of (draft.undo ?? []).reverse()) undo();
  draft.inserts.length = mark.inserts;
  draft.entries.length = mark.entries;
}

function refuse(code: LedgerErrorCode, detail: string, extensions: Record<string, unknown> = {}): CommandResult {
  return { ok: false, error: new LedgerError(code, detail, { extensions }) };
}

function sameMetadata(a: Record<string, unknown> | null | undefined, b: Record<string, unknown> | null | undefined): boolean {
  return canonicalJson(a ?? null) === canonicalJson(b ?? null);
}

/** Checks what the API also validates, again where money is written (CONVENTIONS: assert on both sides). */
function invalidCommand(command: LedgerCommand): CommandResult | undefined {
  const bad = (detail: string) => refuse(LedgerErrorCode.InvalidCommand, detail, { transferId: command.id });
  if (!isLowerCaseUuid(command.id)) return bad('A transfer id is a lower-case UUID.');
  if (
    command.metadata !== undefined &&
    command.metadata !== null &&
    Buffer.byteLength(canonicalJson(command.metadata)) > MAX_METADATA_BYTES
  ) {
    return bad(`Metadata is limited to ${MAX_METADATA_BYTES} bytes.`);
  }
  if (command.code !== undefined && !TRANSFER_CODE.test(command.code))
    return bad('A transfer code is lower-case letters, digits, `_` and `.`, at most 64.');
  if (command.type === 'transfer') {
    if (command.amount <= 0n || command.amount > MAX_AMOUNT)
      return bad('The amount must be a whole number of minor units from 1 to 2^53 - 1.');
    if (!isCurrencyCode(command.currency)) return bad('The currency must be an ISO 4217 code.');
    if (!isLowerCaseUuid(command.debitAccountId) || !isLowerCaseUuid(command.creditAccountId))
      return bad('Account ids are lower-case UUIDs.');
    const timeout = command.timeoutSeconds ?? 0;
    if (!Number.isInteger(timeout) || timeout < 0 || timeout > MAX_TIMEOUT_SECONDS)
      return bad(`timeoutSeconds must be a whole number from 0 to ${MAX_TIMEOUT_SECONDS}.`);
    if (timeout > 0 && !command.pending) return bad('Only a pending transfer has a timeout.');
  } else {
    if (!isLowerCaseUuid(command.pendingId)) return bad('pendingId is a lower-case UUID.');
    if (command.amount !== undefined && (command.action !== 'post' || command.amount <= 0n || command.amount > MAX_AMOUNT)) {
      return bad('Only a post takes an amount, from 1 to the pending amount.');
    }
  }
  return undefined;
}

/** What a batch locks and reads: pending ids and account ids (sorted: the lock order), and every command id. */
function lockKeys(commands: readonly LedgerCommand[]): LockScope {
  const pendingIds = [
    ...new Set(
      commands.flatMap((command) => (command.type === 'resolve' && isLowerCaseUuid(command.pendingId) ? [command.pendingId] : [])),
    ),
  ].sort();
  const accountIds = new Set<string>();
  for (const command of commands) {
    if (command.type === 'transfer' && isLowerCaseUuid(command.debitAccountId) && isLowerCaseUuid(command.creditAccountId)) {
      accountIds.add(command.debitAccountId);
      accountIds.add(command.creditAccountId);
    }
  }
  const ids = [...new Set(commands.map((command) => command.id).filter((id) => isLowerCaseUuid(id)))];
  return { pendingIds, accountIds, ids };
}

/** What a transaction locks and reads for the ledger: pending transfers and accounts by id (locked), transfers by id (read). */
export interface LockScope {
  readonly pendingIds: readonly string[];
  readonly accountIds: ReadonlySet<string>;
  readonly ids: readonly string[];
}

/** The rows a transaction locked and read for the ledger, with what it asked for. */
export interface LockedRows {
  readonly scope: LockScope;
  readonly pendingRows: TransferRow[];
  readonly accountRows: AccountRow[];
  readonly existingRows: TransferRow[];
}

/**
 * The statements that take the ledger's locks (pending transfers by id, then accounts by id, each in
 * id order) and then read the transfers with the given ids, as SQL text for a transaction's opening
 * round trip (transactionOpenedWith); `read` takes their results, in order. The ids are inlined as
 * literals, which is safe only because every one matched the strict lower-case UUID pattern
 * (asserted again in `uuidArrayLiteral`); ids that do not are left out (their commands are refused).
 */
export function lockStatements(scope: LockScope): { statements: string[]; read: (results: readonly StatementResult[]) => LockedRows } {
  const pendingIds = [...new Set(scope.pendingIds.filter((id) => isLowerCaseUuid(id)))].sort();
  const accountIds = [...scope.accountIds].filter((id) => isLowerCaseUuid(id)).sort();
  const ids = [...new Set(scope.ids.filter((id) => isLowerCaseUuid(id)))];
  const statements: string[] = [];
  const pending = uuidArrayLiteral(pendingIds);
  if (pendingIds.length > 0) statements.push(`SELECT * FROM ledger_transfers WHERE id = ANY(${pending}) ORDER BY id FOR UPDATE`);
  const accounts =
    pendingIds.length === 0
      ? uuidArrayLiteral(accountIds)
      : // A transfer's accounts never change, so reading them from the rows just locked is the same as in `execute`.
        `(${uuidArrayLiteral(accountIds)} || ARRAY(SELECT debit_account_id FROM ledger_transfers WHERE id = ANY(${pending})
           UNION SELECT credit_account_id FROM ledger_transfers WHERE id = ANY(${pending})))`;
  const lockAccounts = accountIds.length > 0 || pendingIds.length > 0;
  if (lockAccounts) statements.push(`SELECT * FROM ledger_accounts WHERE id = ANY(${accounts}) ORDER BY id FOR UPDATE`);
  if (ids.length > 0) statements.push(`SELECT * FROM ledger_transfers WHERE id = ANY(${uuidArrayLiteral(ids)})`);
  const read = (results: readonly StatementResult[]): LockedRows => {
    if (results.length !== statements.length) throw new Error(`ledger locks: expected ${statements.length} results, got ${results.length}`);
    const rest = [...results];
    // In the order the statements were pushed (an object literal's values are evaluated in order).
    const take = (sent: boolean): unknown[] => (sent ? (rest.shift()?.rows ?? []) : []);
    return {
      scope: { pendingIds, accountIds: new Set(accountIds), ids },
      pendingRows: take(pendingIds.length > 0) as TransferRow[],
      accountRows: take(lockAccounts) as AccountRow[],
      existingRows: take(ids.length > 0) as TransferRow[],
    };
  };
  return { statements, read };
}

/**
 * Whether every command stays within what was locked and read: its id read, a transfer's accounts
 * locked, a resolution's pending transfer locked. A command outside would be applied against rows
 * not locked (or an existing id not seen): a bug in the caller, never an input error.
 */
function assertWithin(scope: LockScope, commands: readonly LedgerCommand[]): void {
  const ids = new Set(scope.ids);
  const pendingIds = new Set(scope.pendingIds);
  for (const command of commands) {
    if (!isLowerCaseUuid(command.id)) continue; // refused as invalid, touching nothing
    const outside =
      !ids.has(command.id) ||
      (command.type === 'transfer'
        ? isLowerCaseUuid(command.debitAccountId) &&
          isLowerCaseUuid(command.creditAccountId) &&
          (!scope.accountIds.has(command.debitAccountId) || !scope.accountIds.has(command.creditAccountId))
        : isLowerCaseUuid(command.pendingId) && !pendingIds.has(command.pendingId));
    if (outside) throw new Error(`ledger command ${command.id} is outside the rows its transaction locked`);
  }
}

/**
 * The one place that writes the money tables. Commands are applied in memory against rows locked in
 * one fixed order (pending transfers by id, then accounts by id, `FOR UPDATE`), then written with a few
 * set-based statements: one transaction for a whole batch, each command's own success or failure kept
 * apart, linked groups all-or-nothing. The database's CHECK constraints and triggers are the second
 * line: a bug here that would break an invariant fails the transaction instead.
 */
@Injectable()
export class PostingEngine implements OnApplicationShutdown {
  private readonly logger = new Logger(PostingEngine.name);
  private readonly batcher: GroupCommitter<CommandGroup, CommandResult[]>;
  /**
   * Accounts as this engine last committed them (or locked them in a transaction that then
   * committed), by id. A batch whose accounts are all here is written in one statement without taking
   * locks first (see `writeFromRemembered`); anything else takes the locking path, which refreshes them.
   */
  private readonly remembered = new Map<string, AccountState>();
  /**
   * How writes went, for benchmarks and tests: written from remembered accounts, batches of the
   * batcher written through the locking path, and tries from remembered accounts that found one moved
   * (or an id taken, or a part's row changed) and gave way to a locking path.
   */
  readonly writes = { fromRemembered: 0, locking: 0, rememberedMoved: 0 };

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly audit: AuditService,
  ) {
    this.batcher = new GroupCommitter((groups) => this.writeBatch(groups), {
      maxWeight: BATCH_LIMIT,
      weightOf: (group) => group.commands.length,
    });
  }

  /**
   * Applies a group of commands through the batcher: concurrent submissions share one database
   * transaction (group commit). Resolves with one result a command, in order.
   */
  submit(group: CommandGroup): Promise<CommandResult[]> {
    if (group.commands.length === 0) return Promise.resolve([]);
    if (group.commands.length > MAX_BATCH_COMMANDS) {
      return Promise.reject(new LedgerError(LedgerErrorCode.BatchTooLarge, `At most ${MAX_BATCH_COMMANDS} transfers in one request.`));
    }
    return this.batcher.submit(group);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.batcher.stop();
  }

  /**
   * One transaction for the whole batch. If it fails as a whole (a race with another instance over a
   * duplicate id, a deadlock, a database refusal) it is tried again, then each group alone, so that one
   * bad group cannot fail the others.
   */
  private async writeBatch(groups: CommandGroup[]): Promise<Settled<CommandResult[]>[]> {
    for (let attempt = 1; attempt <= BATCH_RETRIES; attempt += 1) {
      try {
        const results = await this.executeBatch(groups);
        return results.map((value) => ({ ok: true, value }));
      } catch (error) {
        this.logger.warn({ err: error, attempt, groups: groups.length }, 'ledger batch failed');
        if (groups.length === 1 && attempt === BATCH_RETRIES) return [{ ok: false, error }];
      }
    }
    const settled: Settled<CommandResult[]>[] = [];
    for (const group of groups) {
      try {
        const [results] = await this.executeBatch([group]);
        settled.push({ ok: true, value: results ?? [] });
      } catch (error) {
        settled.push({ ok: false, error });
      }
    }
    return settled;
  }

  /**
   * Applies groups inside the caller's transaction: a module that must commit its own state change
   * with its transfers calls this (through LedgerService) with its EntityManager.
   */
  async execute(manager: EntityManager, groups: readonly CommandGroup[]): Promise<CommandResult[][]> {
    const now = this.clock.now();
    const commands = groups.flatMap((group) => group.commands);
    const keys = lockKeys(commands);
    // 1. Lock the pending transfers being resolved (by id), then 2. every account touched (by id).
    const pendingRows: TransferRow[] =
      keys.pendingIds.length === 0
        ? []
        : await manager.query('SELECT * FROM ledger_transfers WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE', [keys.pendingIds]);
    const accountIds = new Set(keys.accountIds);
    for (const row of pendingRows) {
      accountIds.add(row.debit_account_id);
      accountIds.add(row.credit_account_id);
    }
    const accountRows: AccountRow[] =
      accountIds.size === 0
        ? []
        : await manager.query('SELECT * FROM ledger_accounts WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE', [[...accountIds].sort()]);
    // 3. With the locks held, see which ids exist already (idempotent retries).
    const existingRows: TransferRow[] =
      keys.ids.length === 0 ? [] : await manager.query('SELECT * FROM ledger_transfers WHERE id = ANY($1::uuid[])', [keys.ids]);
    return this.applyAndWriteForCaller(manager, groups, { pendingRows, accountRows, existingRows }, now);
  }

  /**
   * The batcher's own transaction. A batch of new transfers over accounts all remembered is written
   * in one statement (`writeFromRemembered`); otherwise, or if that statement finds an account moved,
   * the same work as `execute` in fewer round trips: BEGIN, the locks (pending transfers by id, then
   * accounts by id) and the read of existing ids go as one multi-statement query (transactionOpenedWith:
   * the ids are read with the locks held, exactly as in `execute`), then one statement writes, then COMMIT.
   */
  private async executeBatch(groups: readonly CommandGroup[]): Promise<CommandResult[][]> {
    const now = this.clock.now();
    const fromRemembered = await this.writeFromRemembered(groups, now, () => []);
    if (fromRemembered !== undefined) return fromRemembered;
    const locks = lockStatements(lockKeys(groups.flatMap((group) => group.commands)));
    const { results, draft } = await transactionOpenedWith(this.dataSource, locks.statements, async (manager, opened) => {
      const applied = this.applyGroups(this.draftFrom(locks.read(opened)), groups, now);
      await this.write(manager, applied.draft, now, this.partsOf(groups, applied.results, []));
      return applied;
    });
    // Committed: every account locked is now as the draft left it.
    for (const account of draft.accounts.values()) this.remember(account);
    this.writes.locking += 1;
    return results;
  }

  /**
   * Applies groups inside the caller's transaction, against rows it locked and read in its opening
   * round trip with `lockStatements` (a hot path that opens its transaction with its own locks and
   * the ledger's together). Every command must stay within those rows. `also` gives, from the
   * results, the caller's own writes to make in the ledger's statement.
   */
  async executeLocked(
    manager: EntityManager,
    locked: LockedRows,
    groups: readonly CommandGroup[],
    also: (results: readonly CommandResult[][]) => readonly StatementPart[] = () => [],
  ): Promise<CommandResult[][]> {
    assertWithin(
      locked.scope,
      groups.flatMap((group) => group.commands),
    );
    return this.applyAndWriteForCaller(manager, groups, locked, this.clock.now(), also);
  }

  /**
   * The optimistic path: groups of new transfers (no resolutions) whose accounts are all remembered
   * are applied to the remembered states and written, with their audit events and the caller's `also`
   * (made from the results), in one statement in a transaction of its own (autocommit: one round trip,
   * one commit). The statement changes each account only where it is still at the remembered head and
   * open, and every part must write all its rows (`statement_require` fails it as a whole otherwise); an
   * id that exists already fails its insert. Either way nothing is written, the accounts are
   * forgotten, and the answer is undefined: the caller takes its locking path, which finds out why.
   * The database lets balances change only with a new head (ledger_account_guard), so an unmoved head
   * means unchanged balances. A refusal is answered only from rows locked, so any refusal also gives
   * undefined, as do groups with a resolution or an account not remembered.
   */
  async writeFromRemembered(
    groups: readonly CommandGroup[],
    now: Date,
    also: (results: readonly CommandResult[][]) => readonly StatementPart[],
  ): Promise<CommandResult[][] | undefined> {
    const accountIds = new Set<string>();
    for (const group of groups) {
      for (const command of group.commands) {
        if (command.type !== 'transfer') return undefined;
        accountIds.add(command.debitAccountId);
        accountIds.add(command.creditAccountId);
      }
    }
    const accounts: AccountState[] = [];
    for (const id of accountIds) {
      const account = this.remembered.get(id);
      if (account === undefined) return undefined;
      accounts.push({ ...account });
    }
    const initial: Draft = {
      accounts: new Map(accounts.map((account) => [account.id, account])),
      transfers: new Map(),
      inserts: [],
      resolutions: new Map(),
      entries: [],
      undo: undefined,
    };
    const { draft, results } = this.applyGroups(initial, groups, now);
    if (draft.entries.length === 0 || results.some((group) => group.some((result) => !result.ok))) return undefined;
    const heads = new Map(accounts.map((account) => [account.id, account.headSeq]));
    try {
      await this.write(this.dataSource.manager, draft, now, this.partsOf(groups, results, also(results)), heads);
    } catch {
      // Moved by another transaction or instance, a retried id, or a part's row not as the caller saw it.
      for (const id of accountIds) this.remembered.delete(id);
      this.writes.rememberedMoved += 1;
      return undefined;
    }
    for (const account of draft.accounts.values()) this.remember(account);
    this.writes.fromRemembered += 1;
    return results;
  }

  /**
   * In a caller's transaction. Its accounts are remembered as written, before the caller commits: if
   * it rolls back instead, the memory is ahead of the database, and the next write from it finds the
   * head moved and gives way to the locking path (a write from it that comes while the caller's
   * transaction is open waits for the row lock, then checks the head the caller left).
   */
  private async applyAndWriteForCaller(
    manager: EntityManager,
    groups: readonly CommandGroup[],
    rows: Pick<LockedRows, 'pendingRows' | 'accountRows' | 'existingRows'>,
    now: Date,
    also: (results: readonly CommandResult[][]) => readonly StatementPart[] = () => [],
  ): Promise<CommandResult[][]> {
    const { draft, results } = this.applyGroups(this.draftFrom(rows), groups, now);
    try {
      await this.write(manager, draft, now, this.partsOf(groups, results, also(results)));
    } catch (error) {
      for (const id of draft.accounts.keys()) this.remembered.delete(id);
      throw error;
    }
    for (const account of draft.accounts.values()) this.remember(account);
    return results;
  }

  private remember(account: AccountState): void {
    // Deleted first so that insertion order is the order of use: the first key is the least recently written.
    this.remembered.delete(account.id);
    this.remembered.set(account.id, account);
    if (this.remembered.size > REMEMBERED_ACCOUNTS) {
      const oldest = this.remembered.keys().next();
      if (oldest.done !== true) this.remembered.delete(oldest.value);
    }
  }

  private draftFrom({ pendingRows, accountRows, existingRows }: Pick<LockedRows, 'pendingRows' | 'accountRows' | 'existingRows'>): Draft {
    return {
      accounts: new Map(accountRows.map((row) => [row.id, accountFromRow(row)])),
      transfers: new Map([...pendingRows, ...existingRows].map((row) => [row.id, transferFromRow(row)])),
      inserts: [],
      resolutions: new Map(),
      entries: [],
      undo: undefined,
    };
  }

  /** Applies the commands to a draft in memory: one result a command, linked groups all or nothing. */
  private applyGroups(initial: Draft, groups: readonly CommandGroup[], now: Date): { draft: Draft; results: CommandResult[][] } {
    const draft = initial;
    const results: CommandResult[][] = [];
    for (const group of groups) {
      const before = group.linked ? { inserts: draft.inserts.length, entries: draft.entries.length } : undefined;
      draft.undo = group.linked ? [] : undefined;
      const linkedBatchId = group.linked && group.commands.length > 1 ? (group.commands[0]?.id ?? null) : null;
      const groupResults: CommandResult[] = [];
      let failed: { index: number; result: CommandResult } | undefined;
      for (const [index, command] of group.commands.entries()) {
        const result = this.apply(draft, command, now, linkedBatchId);
        if (!result.ok && before !== undefined) {
          failed = { index, result };
          break;
        }
        groupResults.push(result);
      }
      if (failed !== undefined && before !== undefined) {
        rollBack(draft, before);
        const failedId = group.commands[failed.index]?.id;
        results.push(
          group.commands.map((command, index) =>
            index === failed.index
              ? failed.result
              : refuse(LedgerErrorCode.LinkedTransferFailed, `Not applied: linked transfer ${failedId} failed.`, {
                  transferId: command.id,
                  failedTransferId: failedId,
                }),
          ),
        );
      } else {
        results.push(groupResults);
      }
      draft.undo = undefined;
    }
    return { draft, results };
  }

  /** The groups' audit events, then the caller's parts: everything written in the ledger's statement besides its own rows. */
  private partsOf(groups: readonly CommandGroup[], results: readonly CommandResult[][], also: readonly StatementPart[]): StatementPart[] {
    const events = groups.flatMap((group, index) => {
      const event = group.audit?.(results[index] ?? []);
      return event ? [event] : [];
    });
    const audited = this.audit.insertPart(events);
    return audited === undefined ? [...also] : [audited, ...also];
  }

  private apply(draft: Draft, command: LedgerCommand, now: Date, linkedBatchId: string | null): CommandResult {
    const invalid = invalidCommand(command);
    if (invalid !== undefined) return invalid;
    const existing = draft.transfers.get(command.id);
    if (existing !== undefined) return this.replay(existing, command, draft);
    return command.type === 'transfer'
      ? this.applyTransfer(draft, command, now, linkedBatchId)
      : this.applyResolution(draft, command, now, linkedBatchId);
  }

  /** The same id again: the first result if every field matches, else a refusal naming the first field that differs. */
  private replay(existing: Transfer, command: LedgerCommand, draft: Draft): CommandResult {
    const differs = (field: string): CommandResult =>
      refuse(LedgerErrorCode.TransferExistsWithDifferentFields, `Transfer ${command.id} exists with a different ${field}.`, {
        transferId: command.id,
        field,
      });
    const current = draft.transfers.get(existing.id) ?? existing;
    if (command.type === 'transfer') {
      if (existing.kind !== (command.pending ? 'pending' : 'single')) return differs('pending');
      if (existing.debitAccountId !== command.debitAccountId) return differs('debitAccountId');
      if (existing.creditAccountId !== command.creditAccountId) return differs('creditAccountId');
      if (existing.amount !== command.amount) return differs('amount');
      if (existing.currency !== command.currency) return differs('currency');
      if (existing.code !== command.code) return differs('code');
      if (!sameMetadata(existing.metadata, command.metadata)) return differs('metadata');
      const timeoutSeconds =
        existing.timeoutAt === null ? 0 : Math.round((existing.timeoutAt.getTime() - existing.createdAt.getTime()) / 1000);
      if (timeoutSeconds !== (command.timeoutSeconds ?? 0)) return differs('timeoutSeconds');
      return { ok: true, transfer: current, replayed: true };
    }
    const kind = { post: 'post_pending', void: 'void_pending', expire: 'expire_pending' }[command.action];
    if (existing.kind !== kind) return differs('action');
    if (existing.pendingId !== command.pendingId) return differs('pendingId');
    if (command.amount !== undefined && existing.amount !== command.amount) return differs('amount');
    if (command.code !== undefined && existing.code !== command.code) return differs('code');
    if (command.metadata !== undefined && !sameMetadata(existing.metadata, command.metadata)) return differs('metadata');
    return { ok: true, transfer: current, replayed: true };
  }

  private applyTransfer(draft: Draft, command: NewTransfer, now: Date, linkedBatchId: string | null): CommandResult {
    const at = { transferId: command.id };
    if (command.debitAccountId === command.creditAccountId)
      return refuse(LedgerErrorCode.AccountsMustDiffer, 'The debit and credit accounts must differ.', at);
    const debit = draft.accounts.get(command.debitAccountId);
    const credit = draft.accounts.get(command.creditAccountId);
    if (debit === undefined)
      return refuse(LedgerErrorCode.AccountNotFound, 'The debit account does not exist.', { ...at, accountId: command.debitAccountId });
    if (credit === undefined)
      return refuse(LedgerErrorCode.AccountNotFound, 'The credit account does not exist.', { ...at, accountId: command.creditAccountId });
    for (const account of [debit, credit]) {
      if (account.closedAt !== null)
        return refuse(LedgerErrorCode.AccountClosed, `Account ${account.code} is closed.`, { ...at, accountId: account.id });
      if (account.currency !== command.currency) {
        return refuse(LedgerErrorCode.CurrencyMismatch, `Account ${account.code} holds ${account.currency}, not ${command.currency}.`, {
          ...at,
          accountId: account.id,
        });
      }
    }
    const pending = command.pending === true;
    const amount = command.amount;
    const next = {
      debit: {
        ...debit,
        debitsPending: debit.debitsPending + (pending ? amount : 0n),
        debitsPosted: debit.debitsPosted + (pending ? 0n : amount),
      },
      credit: {
        ...credit,
        creditsPending: credit.creditsPending + (pending ? amount : 0n),
        creditsPosted: credit.creditsPosted + (pending ? 0n : amount),
      },
    };
    const limit = this.checkLimits(next.debit, next.credit, at);
    if (limit !== undefined) return limit;
    const transfer: Transfer = {
      id: command.id,
      kind: pending ? 'pending' : 'single',
      debitAccountId: debit.id,
      creditAccountId: credit.id,
      amount,
      currency: command.currency,
      code: command.code,
      metadata: command.metadata ?? null,
      pendingId: null,
      timeoutAt: pending && (command.timeoutSeconds ?? 0) > 0 ? new Date(now.getTime() + (command.timeoutSeconds ?? 0) * 1000) : null,
      status: pending ? 'pending' : 'posted',
      resolvedBy: null,
      linkedBatchId,
      createdAt: now,
    };
    this.record(draft, transfer, next.debit, next.credit, pending ? amount : 0n, pending ? 0n : amount, now);
    return { ok: true, transfer, replayed: false };
  }

  private applyResolution(draft: Draft, command: Resolution, now: Date, linkedBatchId: string | null): CommandResult {
    const at = { transferId: command.id, pendingId: command.pendingId };
    const pending = draft.transfers.get(command.pendingId);
    if (pending === undefined) return refuse(LedgerErrorCode.PendingTransferNotFound, `No transfer ${command.pendingId}.`, at);
    if (pending.kind !== 'pending')
      return refuse(LedgerErrorCode.NotPending, `Transfer ${command.pendingId} is not a pending transfer.`, at);
    if (pending.status !== 'pending') {
      return refuse(LedgerErrorCode.PendingTransferAlreadyResolved, `Transfer ${command.pendingId} is ${pending.status} already.`, {
        ...at,
        status: pending.status,
        resolvedBy: pending.resolvedBy,
      });
    }
    const due = pending.timeoutAt !== null && pending.timeoutAt.getTime() <= now.getTime();
    if (command.action === 'expire' && !due)
      return refuse(LedgerErrorCode.PendingTransferNotDue, `Transfer ${command.pendingId} has not timed out.`, at);
    if (command.action !== 'expire' && due)
      return refuse(LedgerErrorCode.PendingTransferExpired, `Transfer ${command.pendingId} timed out; it is being expired.`, at);
    const posted = command.action === 'post' ? (command.amount ?? pending.amount) : 0n;
    if (posted > pending.amount) {
      return refuse(
        LedgerErrorCode.AmountExceedsPending,
        `Transfer ${command.pendingId} reserved ${pending.amount}; cannot post ${posted}.`,
        at,
      );
    }
    const debit = draft.accounts.get(pending.debitAccountId);
    const credit = draft.accounts.get(pending.creditAccountId);
    // The pending transfer's accounts were locked with it; their absence would be a bug, not an input error.
    if (debit === undefined || credit === undefined) throw new Error(`accounts of pending transfer ${pending.id} were not loaded`);
    const next = {
      debit: { ...debit, debitsPending: debit.debitsPending - pending.amount, debitsPosted: debit.debitsPosted + posted },
      credit: { ...credit, creditsPending: credit.creditsPending - pending.amount, creditsPosted: credit.creditsPosted + posted },
    };
    if (next.debit.debitsPending < 0n || next.credit.creditsPending < 0n)
      throw new Error(`pending balance below zero resolving ${pending.id}`);
    const limit = this.checkLimits(next.debit, next.credit, at);
    if (limit !== undefined) return limit;
    const kind: TransferKind = command.action === 'post' ? 'post_pending' : command.action === 'void' ? 'void_pending' : 'expire_pending';
    const transfer: Transfer = {
      id: command.id,
      kind,
      debitAccountId: debit.id,
      creditAccountId: credit.id,
      amount: posted,
      currency: pending.currency,
      code: command.code ?? pending.code,
      metadata: command.metadata ?? null,
      pendingId: pending.id,
      timeoutAt: null,
      status: 'posted',
      resolvedBy: null,
      linkedBatchId,
      createdAt: now,
    };
    const status: TransferStatus = command.action === 'post' ? 'posted' : command.action === 'void' ? 'voided' : 'expired';
    setInDraft(draft, draft.transfers, pending.id, { ...pending, status, resolvedBy: transfer.id });
    setInDraft(draft, draft.resolutions, pending.id, { status, resolvedBy: transfer.id });
    this.record(draft, transfer, next.debit, next.credit, -pending.amount, posted, now);
    return { ok: true, transfer, replayed: false };
  }

  private checkLimits(debit: AccountState, credit: AccountState, at: Record<string, unknown>): CommandResult | undefined {
    for (const account of [debit, credit]) {
      if (
        [account.debitsPending, account.debitsPosted, account.creditsPending, account.creditsPosted].some((value) => value > BIGINT_MAX)
      ) {
        return refuse(LedgerErrorCode.Overflow, `Account ${account.code} would overflow.`, { ...at, accountId: account.id });
      }
    }
    if (debit.debitsMustNotExceedCredits && debit.debitsPending + debit.debitsPosted > debit.creditsPosted) {
      return refuse(LedgerErrorCode.ExceedsCredits, `Account ${debit.code} would have more debits than credits.`, {
        ...at,
        accountId: debit.id,
      });
    }
    if (credit.creditsMustNotExceedDebits && credit.creditsPending + credit.creditsPosted > credit.debitsPosted) {
      return refuse(LedgerErrorCode.ExceedsDebits, `Account ${credit.code} would have more credits than debits.`, {
        ...at,
        accountId: credit.id,
      });
    }
    return undefined;
  }

  /** Commits one transfer to the draft: its row, the two accounts' new balances, and one entry on each. */
  private record(
    draft: Draft,
    transfer: Transfer,
    debit: AccountState,
    credit: AccountState,
    pendingDelta: bigint,
    postedDelta: bigint,
    now: Date,
  ): void {
    draft.inserts.push(transfer);
    setInDraft(draft, draft.transfers, transfer.id, transfer);
    const digest = transferDigest(transfer);
    for (const [account, side] of [
      [debit, 'debit'],
      [credit, 'credit'],
    ] as const) {
      const seq = account.headSeq + 1n;
      const content = {
        accountId: account.id,
        seq,
        transferId: transfer.id,
        transferDigest: digest,
        side,
        pendingDelta,
        postedDelta,
        debitsPending: account.debitsPending,
        debitsPosted: account.debitsPosted,
        creditsPending: account.creditsPending,
        creditsPosted: account.creditsPosted,
        createdAt: now,
      };
      const hash = entryHash(account.headHash, content);
      draft.entries.push({ ...content, prevHash: account.headHash, hash });
      setInDraft(draft, draft.accounts, account.id, { ...account, headSeq: seq, headHash: hash });
    }
  }

  /**
   * Writes a draft and the batch's audit events in one statement: the transfers, the resolutions of
   * pending transfers, the entries, the accounts' new balances and heads and the events, as
   * data-modifying CTEs. They see the same snapshot and touch different rows (a resolution updates a
   * pending transfer committed before this transaction), the foreign keys are checked at the end of
   * the statement, and the statement fails itself (statement_require) unless every row was written. With
   * `heads` (account id -> the head the draft started from), an account is changed only where it is
   * still at that head and open. A pending transfer resolved in the batch that creates it needs its
   * insert to be visible to its update, so that rare draft is written one statement at a time instead.
   */
  private async write(
    manager: EntityManager,
    draft: Draft,
    now: Date,
    parts: readonly StatementPart[],
    heads?: ReadonlyMap<string, bigint>,
  ): Promise<void> {
    const inserted = new Set(draft.inserts.map((transfer) => transfer.id));
    if (draft.entries.length === 0 || [...draft.resolutions.keys()].some((id) => inserted.has(id))) {
      // Never with `heads`: writeFromRemembered writes only drafts with entries and no resolutions.
      await this.writeStepByStep(manager, draft, now);
      const alone = statementOf(parts, 'ledger write: a part did not write every row');
      if (alone !== undefined) await manager.query(alone.sql, alone.parameters);
      return;
    }
    const t = draft.inserts;
    const r = [...draft.resolutions];
    const e = draft.entries;
    const touched = this.touchedAccounts(draft);
    const also = composeParts(parts, 39);
    await manager.query(
      `WITH inserted_transfers AS (
         INSERT INTO ledger_transfers (id, kind, debit_account_id, credit_account_id, amount, currency, code, metadata, pending_id, timeout_at, status, resolved_by, linked_batch_id, created_at)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::bigint[], $6::char(3)[], $7::text[], $8::jsonb[], $9::uuid[], $10::timestamptz[], $11::text[], $12::uuid[], $13::uuid[], $14::timestamptz[])
         RETURNING 1
       ), resolved AS (
         UPDATE ledger_transfers t SET status = v.status, resolved_by = v.resolved_by
           FROM unnest($15::uuid[], $16::text[], $17::uuid[]) AS v(id, status, resolved_by)
          WHERE t.id = v.id AND t.status = 'pending'
         RETURNING 1
       ), inserted_entries AS (
         INSERT INTO ledger_entries (account_id, seq, transfer_id, side, pending_delta, posted_delta, debits_pending, debits_posted, credits_pending, credits_posted, prev_hash, hash, created_at)
         SELECT *, $30::timestamptz FROM unnest($18::uuid[], $19::bigint[], $20::uuid[], $21::text[], $22::bigint[], $23::bigint[], $24::bigint[], $25::bigint[], $26::bigint[], $27::bigint[], $28::text[], $29::text[])
         RETURNING 1
       ), updated_accounts AS (
         UPDATE ledger_accounts a
            SET debits_pending = v.dp, debits_posted = v.dpo, credits_pending = v.cp, credits_posted = v.cpo, head_seq = v.seq, head_hash = v.hash
           FROM unnest($31::uuid[], $32::bigint[], $33::bigint[], $34::bigint[], $35::bigint[], $36::bigint[], $37::text[], $38::bigint[]) AS v(id, dp, dpo, cp, cpo, seq, hash, was)
          WHERE a.id = v.id AND (v.was IS NULL OR (a.head_seq = v.was AND a.closed_at IS NULL))
         RETURNING 1
       )${also.ctes === '' ? '' : `, ${also.ctes}`}
       SELECT statement_require(
                ${[
                  `(SELECT count(*) FROM inserted_transfers) = ${t.length}`,
                  `(SELECT count(*) FROM resolved) = ${r.length}`,
                  `(SELECT count(*) FROM inserted_entries) = ${e.length}`,
                  `(SELECT count(*) FROM updated_accounts) = ${touched.length}`,
                  ...also.requirements,
                ].join(' AND ')},
                'ledger write: not every row was written (an account moved or closed, a pending transfer resolved, or a part''s row changed, meanwhile)')`,
      withArrayLiterals([
        ...this.transferColumns(t),
        r.map(([id]) => id),
        r.map(([, x]) => x.status),
        r.map(([, x]) => x.resolvedBy),
        ...this.entryColumns(e),
        now,
        ...this.accountColumns(touched),
        touched.map((x) => (heads === undefined ? null : String(heads.get(x.id) ?? -1))),
        ...also.parameters,
      ]),
    );
  }

  private transferColumns(t: readonly Transfer[]): unknown[][] {
    return [
      t.map((x) => x.id),
      t.map((x) => x.kind),
      t.map((x) => x.debitAccountId),
      t.map((x) => x.creditAccountId),
      t.map((x) => x.amount.toString()),
      t.map((x) => x.currency),
      t.map((x) => x.code),
      t.map((x) => (x.metadata === null ? null : JSON.stringify(x.metadata))),
      t.map((x) => x.pendingId),
      t.map((x) => x.timeoutAt),
      // A pending transfer resolved in this same batch is inserted as pending, then resolved (writeStepByStep).
      t.map((x) => (x.kind === 'pending' ? 'pending' : x.status)),
      t.map(() => null),
      t.map((x) => x.linkedBatchId),
      t.map((x) => x.createdAt),
    ];
  }

  private entryColumns(e: readonly DraftEntry[]): unknown[][] {
    return [
      e.map((x) => x.accountId),
      e.map((x) => x.seq.toString()),
      e.map((x) => x.transferId),
      e.map((x) => x.side),
      e.map((x) => x.pendingDelta.toString()),
      e.map((x) => x.postedDelta.toString()),
      e.map((x) => x.debitsPending.toString()),
      e.map((x) => x.debitsPosted.toString()),
      e.map((x) => x.creditsPending.toString()),
      e.map((x) => x.creditsPosted.toString()),
      e.map((x) => x.prevHash),
      e.map((x) => x.hash),
    ];
  }

  private accountColumns(touched: readonly AccountState[]): unknown[][] {
    return [
      touched.map((x) => x.id),
      touched.map((x) => x.debitsPending.toString()),
      touched.map((x) => x.debitsPosted.toString()),
      touched.map((x) => x.creditsPending.toString()),
      touched.map((x) => x.creditsPosted.toString()),
      touched.map((x) => x.headSeq.toString()),
      touched.map((x) => x.headHash),
    ];
  }

  /** The accounts that got entries in this draft, in their final state. */
  private touchedAccounts(draft: Draft): AccountState[] {
    return [...new Set(draft.entries.map((x) => x.accountId))]
      .map((id) => draft.accounts.get(id))
      .filter((account): account is AccountState => account !== undefined);
  }

  /** The same writes as `write`, one statement each, in order: inserts first, so that an update sees them. */
  private async writeStepByStep(manager: EntityManager, draft: Draft, now: Date): Promise<void> {
    if (draft.inserts.length > 0) {
      await manager.query(
        `INSERT INTO ledger_transfers (id, kind, debit_account_id, credit_account_id, amount, currency, code, metadata, pending_id, timeout_at, status, resolved_by, linked_batch_id, created_at)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::bigint[], $6::char(3)[], $7::text[], $8::jsonb[], $9::uuid[], $10::timestamptz[], $11::text[], $12::uuid[], $13::uuid[], $14::timestamptz[])`,
        withArrayLiterals(this.transferColumns(draft.inserts)),
      );
    }
    if (draft.resolutions.size > 0) {
      const r = [...draft.resolutions];
      const updated: [unknown[], number] = await manager.query(
        `UPDATE ledger_transfers t SET status = v.status, resolved_by = v.resolved_by
           FROM unnest($1::uuid[], $2::text[], $3::uuid[]) AS v(id, status, resolved_by)
          WHERE t.id = v.id AND t.status = 'pending'`,
        withArrayLiterals([r.map(([id]) => id), r.map(([, x]) => x.status), r.map(([, x]) => x.resolvedBy)]),
      );
      // Every pending row was locked by this transaction and seen pending: all must change.
      if (updated[1] !== r.length) throw new Error(`resolved ${updated[1]} of ${r.length} pending transfers`);
    }
    if (draft.entries.length > 0) {
      await manager.query(
        `INSERT INTO ledger_entries (account_id, seq, transfer_id, side, pending_delta, posted_delta, debits_pending, debits_posted, credits_pending, credits_posted, prev_hash, hash, created_at)
         SELECT *, $13::timestamptz FROM unnest($1::uuid[], $2::bigint[], $3::uuid[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::text[], $12::text[])`,
        withArrayLiterals([...this.entryColumns(draft.entries), now]),
      );
      const touched = this.touchedAccounts(draft);
      const updated: [unknown[], number] = await manager.query(
        `UPDATE ledger_accounts a
            SET debits_pending = v.dp, debits_posted = v.dpo, credits_pending = v.cp, credits_posted = v.cpo, head_seq = v.seq, head_hash = v.hash
           FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::text[]) AS v(id, dp, dpo, cp, cpo, seq, hash)
          WHERE a.id = v.id`,
        withArrayLiterals(this.accountColumns(touched)),
      );
      if (updated[1] !== touched.length) throw new Error(`updated ${updated[1]} of ${touched.length} accounts`);
    }
  }
}
