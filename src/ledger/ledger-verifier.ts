import { performance } from 'node:perf_hooks';
import { Injectable } from '@nestjs/common';
import { DataSource, type QueryRunner } from 'typeorm';
import { Clock } from '../common/clock/clock.js';
import { type CheckpointRow } from './checkpoints.js';
import { transferDigest } from './ledger-hashing.js';
import {
  AccountChainCheck,
  type AccountUnderCheck,
  CheckpointCheck,
  checkResolution,
  checkTransferEntries,
  type CommittedHead,
  CurrencyBalanceCheck,
  type EntryTransfer,
  ProblemLog,
  type StoredCheckpoint,
  type StoredEntry,
  type TransferLink,
  type VerificationReport,
} from './ledger-verification.js';
import { LedgerError, LedgerErrorCode } from './ledger.errors.js';
import type { TransferKind, TransferStatus } from './ledger.types.js';
import { type AccountRow, accountFromRow, type EntryRow, entryFromRow, transferFromRow, type TransferRow } from './posting-engine.js';

export type { VerificationProblem, VerificationProblemKind, VerificationReport } from './ledger-verification.js';

export const DEFAULT_VERIFICATION_PAGE_SIZE = 5000;
export const MAX_VERIFICATION_PAGE_SIZE = 10_000;

export interface VerifyOptions {
  /** Rows a query reads at most (1 to MAX_VERIFICATION_PAGE_SIZE). Tests set it small to cross page boundaries. */
  readonly pageSize?: number;
}

interface TransferLinkRow {
  id: string;
  kind: TransferKind;
  debit_account_id: string;
  credit_account_id: string;
  amount: string;
  currency: string;
  status: TransferStatus;
  pending_id: string | null;
  resolved_by: string | null;
}

interface HeadRow {
  account_id: string;
  seq: string;
  head_hash: string;
  entry_hash: string | null;
  account_exists: boolean;
}

const TRANSFER_LINK_COLUMNS = 'id, kind, debit_account_id, credit_account_id, amount, currency, status, pending_id, resolved_by';

function linkFromRow(row: TransferLinkRow): TransferLink {
  return {
    id: row.id,
    kind: row.kind,
    debitAccountId: row.debit_account_id,
    creditAccountId: row.credit_account_id,
    amount: BigInt(row.amount),
    currency: row.currency,
    status: row.status,
    pendingId: row.pending_id,
    resolvedBy: row.resolved_by,
  };
}

function checkpointFromRow(row: CheckpointRow): StoredCheckpoint {
  return {
    number: BigInt(row.number),
    merkleRoot: row.merkle_root,
    accountCount: BigInt(row.account_count),
    entryCount: BigInt(row.entry_count),
    prevHash: row.prev_hash,
    hash: row.hash,
    createdAt: row.created_at,
  };
}

/**
 * The rows of one ordered query, read a page at a time by keyset (`WHERE key > last key ORDER BY key
 * LIMIT n`): at most one page is held, and each page is an index range scan however deep into the
 * table it is, unlike OFFSET.
 */
class PagedReader<Row> {
  private page: Row[] = [];
  private index = 0;
  private exhausted = false;

  constructor(
    private readonly fetchAfter: (last: Row | undefined) => Promise<Row[]>,
    private readonly pageSize: number,
  ) {}

  async peek(): Promise<Row | undefined> {
    if (this.index < this.page.length) return this.page[this.index];
    if (this.exhausted) return undefined;
    const next = await this.fetchAfter(this.page.at(-1));
    if (next.length > this.pageSize) throw new Error(`a page returned ${next.length} rows, more than ${this.pageSize}`);
    this.exhausted = next.length < this.pageSize;
    this.page = next;
    this.index = 0;
    return this.page[0];
  }

  async next(): Promise<Row | undefined> {
    const row = await this.peek();
    if (row !== undefined) this.index += 1;
    return row;
  }
}

/**
 * Recomputes the whole ledger from its tables and names exactly what no longer matches: every
 * account's hash chain, seq continuity and running balances, its row's head and balances, every
 * transfer's two entries and its two-phase resolution, double entry per currency, flagged limits, and
 * every checkpoint (Merkle root over its committed heads, its chain, each head still being the entry at
 * that seq).
 *
 * One consistent snapshot: everything is read on one connection in one REPEATABLE READ, READ ONLY
 * transaction, so transfers committed meanwhile are either wholly in it or wholly not. (On the
 * embedded database the pool has one connection, which verification holds until it finishes.)
 *
 * Bounded memory, whatever the size of the ledger: rows are read in keyset pages of `pageSize`, and what
 * is kept between pages is O(1) per walk: the current account's chain state (previous hash and
 * balances), the current checkpoint's Merkle stack (O(log accounts) hashes), totals per currency (at
 * most one per ISO code), and the report, whose lists are capped (MAX_LISTED_PROBLEMS,
 * MAX_LISTED_BROKEN_ACCOUNTS). A page of entries brings its transfers (one query by id) and the pending
 * transfers they resolve; a page of transfers brings their entries (by the transfer_id index) and the
 * transfers they resolve or are resolved by. So memory is O(pageSize) rows, never O(table): at the
 * default 5,000, a page of entries with its transfers (metadata at most 4 KiB each) stays under ~25 MB.
 */
@Injectable()
export class LedgerVerifier {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
  ) {}

  async verify(options: VerifyOptions = {}): Promise<VerificationReport> {
    const pageSize = options.pageSize ?? DEFAULT_VERIFICATION_PAGE_SIZE;
    if (!Number.isSafeInteger(pageSize) || pageSize < 1 || pageSize > MAX_VERIFICATION_PAGE_SIZE) {
      throw new LedgerError(
        LedgerErrorCode.InvalidCommand,
        `The verification page size is a whole number from 1 to ${MAX_VERIFICATION_PAGE_SIZE}.`,
      );
    }
    const startedAt = this.clock.now();
    const started = performance.now();
    const log = new ProblemLog();
    const runner = this.dataSource.createQueryRunner();
    try {
      await runner.startTransaction('REPEATABLE READ');
      // Before any read: the snapshot is taken at the first query, and a verifier must never write.
      await runner.query('SET TRANSACTION READ ONLY');
      const { accountsChecked, entriesChecked } = await this.checkAccounts(runner, pageSize, log);
      const transfersChecked = await this.checkTransfers(runner, pageSize, log);
      const checkpointsChecked = await this.checkCheckpoints(runner, pageSize, log);
      const finishedAt = this.clock.now();
      return {
        ok: log.problemCount === 0,
        startedAt,
        finishedAt,
        durationMs: Math.round(performance.now() - started),
        accountsChecked,
        entriesChecked,
        transfersChecked,
        checkpointsChecked,
        problemCount: log.problemCount,
        problems: log.problems,
        problemsOmitted: log.problemCount - log.problems.length,
        firstBrokenEntryByAccount: log.brokenAccounts,
        brokenAccountsOmitted: log.brokenAccountCount - log.brokenAccounts.length,
      };
    } finally {
      try {
        // Read only: there is nothing to commit.
        if (runner.isTransactionActive) await runner.rollbackTransaction();
      } finally {
        await runner.release();
      }
    }
  }

  /**
   * Accounts by id, merged with entries by (account_id, seq): both in the same order, so each account's
   * entries arrive together right after it, and neither walk ever holds more than a page.
   */
  private async checkAccounts(
    runner: QueryRunner,
    pageSize: number,
    log: ProblemLog,
  ): Promise<{ accountsChecked: number; entriesChecked: number }> {
    const accounts = new PagedReader<AccountRow>(
      (last) =>
        last === undefined
          ? runner.query('SELECT * FROM ledger_accounts ORDER BY id LIMIT $1', [pageSize])
          : runner.query('SELECT * FROM ledger_accounts WHERE id > $1 ORDER BY id LIMIT $2', [last.id, pageSize]),
      pageSize,
    );
    const entries = new PagedReader<{ entry: StoredEntry; transfer: EntryTransfer | undefined }>(
      (last) => this.entryPage(runner, last?.entry, pageSize),
      pageSize,
    );
    const totals = new CurrencyBalanceCheck();
    let accountsChecked = 0;
    let entriesChecked = 0;
    for (;;) {
      const row = await accounts.next();
      // Entries sorting before this account (or after the last one) belong to no account: uuid order in
      // PostgreSQL is byte order, which is the order of their lower-case text.
      for (let next = await entries.peek(); next !== undefined && (row === undefined || next.entry.accountId < row.id);) {
        const orphan = next.entry.accountId;
        let count = 0;
        while (next !== undefined && next.entry.accountId === orphan) {
          count += 1;
          await entries.next();
          next = await entries.peek();
        }
        entriesChecked += count;
        log.add({ kind: 'ACCOUNT_HEAD_MISMATCH', accountId: orphan, detail: `${count} entries belong to an account that does not exist` });
      }
      if (row === undefined) break;
      const account: AccountUnderCheck = accountFromRow(row);
      const chain = new AccountChainCheck(account, log);
      for (let next = await entries.peek(); next !== undefined && next.entry.accountId === account.id; next = await entries.peek()) {
        chain.add(next.entry, next.transfer);
        await entries.next();
      }
      chain.finish();
      totals.add(account.currency, account);
      accountsChecked += 1;
      entriesChecked += chain.entries;
    }
    totals.report(log);
    return { accountsChecked, entriesChecked };
  }

  /** One page of entries, each with its transfer (and digest) and, for a resolution, what its pending transfer reserved. */
  private async entryPage(
    runner: QueryRunner,
    after: StoredEntry | undefined,
    pageSize: number,
  ): Promise<{ entry: StoredEntry; transfer: EntryTransfer | undefined }[]> {
    const rows: EntryRow[] =
      after === undefined
        ? await runner.query('SELECT * FROM ledger_entries ORDER BY account_id, seq LIMIT $1', [pageSize])
        : await runner.query('SELECT * FROM ledger_entries WHERE (account_id, seq) > ($1, $2) ORDER BY account_id, seq LIMIT $3', [
            after.accountId,
            after.seq.toString(),
            pageSize,
          ]);
    if (rows.length === 0) return [];
    const transferRows: TransferRow[] = await runner.query('SELECT * FROM ledger_transfers WHERE id = ANY($1::uuid[])', [
      [...new Set(rows.map((row) => row.transfer_id))],
    ]);
    const transfers = new Map(transferRows.map((row) => [row.id, transferFromRow(row)]));
    const missingPending = [
      ...new Set(transferRows.flatMap((row) => (row.pending_id !== null && !transfers.has(row.pending_id) ? [row.pending_id] : []))),
    ];
    const reserved = new Map([...transfers.values()].map((transfer) => [transfer.id, transfer.amount]));
    if (missingPending.length > 0) {
      const pendingRows: { id: string; amount: string }[] = await runner.query(
        'SELECT id, amount FROM ledger_transfers WHERE id = ANY($1::uuid[])',
        [missingPending],
      );
      for (const row of pendingRows) reserved.set(row.id, BigInt(row.amount));
    }
    const facts = new Map<string, EntryTransfer>();
    for (const transfer of transfers.values()) {
      facts.set(transfer.id, {
        transfer,
        digest: transferDigest(transfer),
        reserved: transfer.pendingId === null ? null : (reserved.get(transfer.pendingId) ?? null),
      });
    }
    return rows.map((row) => ({ entry: entryFromRow(row), transfer: facts.get(row.transfer_id) }));
  }

  /** Transfers by id: each has exactly its two entries, and fits its place in two-phase resolution. */
  private async checkTransfers(runner: QueryRunner, pageSize: number, log: ProblemLog): Promise<number> {
    let checked = 0;
    let last: string | undefined;
    for (;;) {
      const rows: TransferLinkRow[] =
        last === undefined
          ? await runner.query(`SELECT ${TRANSFER_LINK_COLUMNS} FROM ledger_transfers ORDER BY id LIMIT $1`, [pageSize])
          : await runner.query(`SELECT ${TRANSFER_LINK_COLUMNS} FROM ledger_transfers WHERE id > $1 ORDER BY id LIMIT $2`, [
              last,
              pageSize,
            ]);
      if (rows.length === 0) break;
      const page = rows.map(linkFromRow);
      const ids = page.map((transfer) => transfer.id);
      const entryRows: { transfer_id: string; account_id: string; seq: string }[] = await runner.query(
        'SELECT transfer_id, account_id, seq FROM ledger_entries WHERE transfer_id = ANY($1::uuid[])',
        [ids],
      );
      const entriesOf = new Map<string, { accountId: string; seq: bigint }[]>();
      for (const row of entryRows) {
        const list = entriesOf.get(row.transfer_id) ?? [];
        list.push({ accountId: row.account_id, seq: BigInt(row.seq) });
        entriesOf.set(row.transfer_id, list);
      }
      const pendingIds = [...new Set(page.flatMap((transfer) => (transfer.pendingId === null ? [] : [transfer.pendingId])))];
      const pendingOf = new Map(
        pendingIds.length === 0
          ? []
          : (
              (await runner.query(`SELECT ${TRANSFER_LINK_COLUMNS} FROM ledger_transfers WHERE id = ANY($1::uuid[])`, [
                pendingIds,
              ])) as TransferLinkRow[]
            ).map((row) => [row.id, linkFromRow(row)]),
      );
      const pendingInPage = page.filter((transfer) => transfer.kind === 'pending').map((transfer) => transfer.id);
      const resolverOf = new Map(
        pendingInPage.length === 0
          ? []
          : (
              (await runner.query(`SELECT ${TRANSFER_LINK_COLUMNS} FROM ledger_transfers WHERE pending_id = ANY($1::uuid[])`, [
                pendingInPage,
              ])) as TransferLinkRow[]
            ).flatMap((row) => (row.pending_id === null ? [] : [[row.pending_id, linkFromRow(row)] as const])),
      );
      for (const transfer of page) {
        checkTransferEntries(transfer, entriesOf.get(transfer.id) ?? [], log);
        checkResolution(transfer, pendingOf, resolverOf, log);
      }
      checked += page.length;
      last = page.at(-1)?.id;
      if (rows.length < pageSize) break;
    }
    return checked;
  }

  /** Checkpoints by number, each with its committed heads by account id (the order their Merkle leaves were built in). */
  private async checkCheckpoints(runner: QueryRunner, pageSize: number, log: ProblemLog): Promise<number> {
    const checkpoints = new PagedReader<CheckpointRow>(
      (last) =>
        last === undefined
          ? runner.query('SELECT * FROM ledger_checkpoints ORDER BY number LIMIT $1', [pageSize])
          : runner.query('SELECT * FROM ledger_checkpoints WHERE number > $1 ORDER BY number LIMIT $2', [last.number, pageSize]),
      pageSize,
    );
    let previous: StoredCheckpoint | undefined;
    let checked = 0;
    for (let row = await checkpoints.next(); row !== undefined; row = await checkpoints.next()) {
      const checkpoint = checkpointFromRow(row);
      const check = new CheckpointCheck(checkpoint, previous, log);
      const heads = new PagedReader<HeadRow>((last) => this.headPage(runner, checkpoint.number, last?.account_id, pageSize), pageSize);
      for (let head = await heads.next(); head !== undefined; head = await heads.next()) {
        const committed: CommittedHead = {
          accountId: head.account_id,
          seq: BigInt(head.seq),
          headHash: head.head_hash,
          entryHash: head.entry_hash,
          accountExists: head.account_exists,
        };
        check.addHead(committed);
      }
      check.finish();
      previous = checkpoint;
      checked += 1;
    }
    return checked;
  }

  private headPage(runner: QueryRunner, checkpointNumber: bigint, after: string | undefined, pageSize: number): Promise<HeadRow[]> {
    // Each head with the entry it names (primary key lookup) and whether its account still exists.
    const select = `SELECT h.account_id, h.seq, h.head_hash, e.hash AS entry_hash, (a.id IS NOT NULL) AS account_exists
                      FROM ledger_checkpoint_heads h
                      LEFT JOIN ledger_entries e ON e.account_id = h.account_id AND e.seq = h.seq
                      LEFT JOIN ledger_accounts a ON a.id = h.account_id`;
    return after === undefined
      ? runner.query(`${select} WHERE h.checkpoint_number = $1 ORDER BY h.account_id LIMIT $2`, [checkpointNumber.toString(), pageSize])
      : runner.query(`${select} WHERE h.checkpoint_number = $1 AND h.account_id > $2 ORDER BY h.account_id LIMIT $3`, [
          checkpointNumber.toString(),
          after,
          pageSize,
        ]);
  }
}
