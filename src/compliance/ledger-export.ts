import { Readable } from 'node:stream';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { transferDigest } from '../ledger/ledger-hashing.js';
import { entryJson, transferJson } from '../ledger/ledger.presenters.js';
import type { Entry, Transfer } from '../ledger/ledger.types.js';
import { type EntryRow, entryFromRow, transferFromRow, type TransferRow } from '../ledger/posting-engine.js';

export type ExportFormat = 'csv' | 'ndjson';

/** Transfers read by one keyset query; with their entries this is what the export holds in memory at once. */
export const EXPORT_PAGE_SIZE = 1000;

export interface ExportRange {
  /** Transfers created at or after this time. */
  readonly from?: Date;
  /** Transfers created before this time. */
  readonly to?: Date;
}

/** One CSV row an entry, its transfer's columns repeated: a spreadsheet or `COPY` takes it as it is. */
export const CSV_COLUMNS = [
  'transfer_id',
  'transfer_kind',
  'transfer_status',
  'transfer_code',
  'debit_account_id',
  'credit_account_id',
  'amount_minor',
  'currency',
  'pending_id',
  'resolved_by',
  'linked_batch_id',
  'timeout_at',
  'transfer_created_at',
  'transfer_metadata',
  'transfer_digest',
  'entry_account_id',
  'entry_seq',
  'entry_side',
  'entry_pending_delta',
  'entry_posted_delta',
  'entry_debits_pending',
  'entry_debits_posted',
  'entry_credits_pending',
  'entry_credits_posted',
  'entry_prev_hash',
  'entry_hash',
  'entry_created_at',
] as const;

/** RFC 4180: quoted when it holds a comma, quote or line break; a leading =, +, - or @ is quoted too, against spreadsheet formula injection. */
function csvField(value: string | null): string {
  if (value === null) return '';
  return /[",\r\n]|^[=+\-@]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

function csvRows(transfer: Transfer, digest: string, entries: readonly Entry[]): string {
  const transferColumns = [
    transfer.id,
    transfer.kind,
    transfer.status,
    transfer.code,
    transfer.debitAccountId,
    transfer.creditAccountId,
    transfer.amount.toString(),
    transfer.currency,
    transfer.pendingId,
    transfer.resolvedBy,
    transfer.linkedBatchId,
    transfer.timeoutAt?.toISOString() ?? null,
    transfer.createdAt.toISOString(),
    transfer.metadata === null ? null : JSON.stringify(transfer.metadata),
    digest,
  ].map(csvField);
  return entries
    .map((entry) =>
      [
        ...transferColumns,
        ...[
          entry.accountId,
          entry.seq.toString(),
          entry.side,
          entry.pendingDelta.toString(),
          entry.postedDelta.toString(),
          entry.debitsPending.toString(),
          entry.debitsPosted.toString(),
          entry.creditsPending.toString(),
          entry.creditsPosted.toString(),
          entry.prevHash,
          entry.hash,
          entry.createdAt.toISOString(),
        ].map(csvField),
      ].join(','),
    )
    .map((row) => `${row}\r\n`)
    .join('');
}

function ndjsonLine(transfer: Transfer, digest: string, entries: readonly Entry[]): string {
  return `${JSON.stringify(transferRecord(transfer, digest, entries))}\n`;
}

/** A transfer, its digest and its entries with their hashes, as the NDJSON export writes it (one line). */
export function transferRecord(transfer: Transfer, digest: string, entries: readonly Entry[]) {
  return {
    ...transferJson(transfer),
    digest,
    // Each entry without its transfer id: the line already says whose entries they are.
    entries: entries.map((entry) => {
      const { transferId: _transferId, ...rest } = entryJson(entry);
      return rest;
    }),
  };
}

/**
 * Streams transfers with their entries and hashes, oldest first by (created_at, id), in constant memory
 * whatever the size of the ledger: keyset pages of EXPORT_PAGE_SIZE transfers (an index range scan each,
 * however deep), each page's entries by the transfer_id index, turned into text and handed to a stream
 * that asks for the next page only when the client has taken the last one (Readable.from over an async
 * generator: backpressure all the way to the socket). Everything is read in one REPEATABLE READ, READ
 * ONLY transaction: the file is one consistent snapshot, even while transfers keep arriving. A client
 * that goes away ends the generator, which rolls back and releases the connection.
 *
 * Each transfer carries its digest (ledger-hashing.ts), which its entries' hashes commit to, so the file
 * alone lets anyone recompute every chain it contains.
 */
@Injectable()
export class LedgerExport {
  constructor(private readonly dataSource: DataSource) {}

  /** One transfer as the export writes it, or null. */
  async transferWithEntries(id: string): Promise<ReturnType<typeof transferRecord> | null> {
    const rows: TransferRow[] = await this.dataSource.query('SELECT * FROM ledger_transfers WHERE id = $1', [id]);
    const row = rows[0];
    if (row === undefined) return null;
    const entryRows: EntryRow[] = await this.dataSource.query(
      'SELECT * FROM ledger_entries WHERE transfer_id = $1 ORDER BY side DESC, account_id',
      [id],
    );
    const transfer = transferFromRow(row);
    return transferRecord(transfer, transferDigest(transfer), entryRows.map(entryFromRow));
  }

  stream(range: ExportRange, format: ExportFormat, pageSize = EXPORT_PAGE_SIZE): Readable {
    if (!Number.isSafeInteger(pageSize) || pageSize < 1 || pageSize > 10_000) throw new Error('export page size is 1 to 10,000');
    return Readable.from(this.chunks(range, format, pageSize), { objectMode: false, highWaterMark: 64 * 1024 });
  }

  private async *chunks(range: ExportRange, format: ExportFormat, pageSize: number): AsyncGenerator<string> {
    const runner = this.dataSource.createQueryRunner();
    try {
      await runner.startTransaction('REPEATABLE READ');
      await runner.query('SET TRANSACTION READ ONLY');
      if (format === 'csv') yield `${CSV_COLUMNS.join(',')}\r\n`;
      let after: { createdMicros: string; id: string } | undefined;
      for (;;) {
        const conditions = ['($1::timestamptz IS NULL OR created_at >= $1)', '($2::timestamptz IS NULL OR created_at < $2)'];
        const parameters: unknown[] = [range.from ?? null, range.to ?? null];
        if (after !== undefined) {
          conditions.push("(created_at, id) > (timestamptz 'epoch' + $3::bigint * interval '1 microsecond', $4::uuid)");
          parameters.push(after.createdMicros, after.id);
        }
        parameters.push(pageSize);
        // The position is kept in exact microseconds (a JS Date has only milliseconds).
        const rows: (TransferRow & { created_us: string })[] = await runner.query(
          `SELECT *, (extract(epoch FROM created_at) * 1000000)::bigint::text AS created_us FROM ledger_transfers WHERE ${conditions.join(' AND ')} ORDER BY created_at, id LIMIT $${parameters.length}`,
          parameters,
        );
        if (rows.length === 0) break;
        const entryRows: EntryRow[] = await runner.query(
          `SELECT * FROM ledger_entries WHERE transfer_id = ANY($1::uuid[]) ORDER BY transfer_id, side DESC, account_id`,
          [rows.map((row) => row.id)],
        );
        const entriesOf = new Map<string, Entry[]>();
        for (const row of entryRows) {
          const entry = entryFromRow(row);
          const list = entriesOf.get(entry.transferId);
          if (list === undefined) entriesOf.set(entry.transferId, [entry]);
          else list.push(entry);
        }
        let chunk = '';
        for (const row of rows) {
          const transfer = transferFromRow(row);
          const entries = entriesOf.get(transfer.id) ?? [];
          const digest = transferDigest(transfer);
          chunk += format === 'csv' ? csvRows(transfer, digest, entries) : ndjsonLine(transfer, digest, entries);
        }
        yield chunk;
        const last = rows.at(-1);
        if (last === undefined || rows.length < pageSize) break;
        after = { createdMicros: last.created_us, id: last.id };
      }
    } finally {
      try {
        if (runner.isTransactionActive) await runner.rollbackTransaction();
      } finally {
        await runner.release();
      }
    }
  }
}
