import { performance } from 'node:perf_hooks';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Clock } from '../common/clock/clock.js';
import { AUDIT_GENESIS_HASH, auditEventHash, type AuditEventRow, EVENT_COLUMNS } from './audit-chain.js';
import { AuditSealer, latestPurge, type SealLag } from './audit-sealer.js';

/**
 * HASH_MISMATCH: the event no longer hashes to its seal's hash. PREV_HASH_MISMATCH: the seal does not
 * link to the one before. SEQ_GAP: seals are missing before this one. EVENT_MISSING: the seal's event
 * was deleted (a purge deletes both, and only below its record).
 */
export type AuditChainProblemKind = 'HASH_MISMATCH' | 'PREV_HASH_MISMATCH' | 'SEQ_GAP' | 'EVENT_MISSING';

export interface BrokenAuditEvent {
  readonly kind: AuditChainProblemKind;
  readonly seq: string;
  readonly eventId: string;
  readonly detail: string;
}

export interface AuditVerificationReport {
  readonly ok: boolean;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly durationMs: number;
  readonly eventsChecked: number;
  /** Where the chain starts: 0 and the genesis hash, or the latest purge's last seq and hash. */
  readonly startsAfterSeq: string;
  readonly startsAfterHash: string;
  readonly headSeq: string | null;
  readonly headHash: string | null;
  /** The first event that does not verify, in seq order; null when all do. */
  readonly firstBrokenEvent: BrokenAuditEvent | null;
  readonly brokenEventCount: number;
  /** Events not sealed yet are not covered by this report; this is how many, and how old. */
  readonly sealing: SealLag;
}

const PAGE_SIZE = 5000;

/** A row of a LEFT JOIN: the joined table's columns, all null when it had no row. */
type NullableRow<T> = { [K in keyof T]: T[K] | null };

/** Whether the seal's event was found (its id is never null when it was). */
function isPresent<T extends { id: string }>(row: NullableRow<T>): row is T {
  return row.id !== null;
}

/**
 * Verifies the audit chain: every seal in `audit_seals`, in seq order from the latest purge (or the
 * genesis), must follow the one before (seq + 1, its prev_hash the previous hash), and its event must
 * still be there and hash to the seal's hash.
 * One REPEATABLE READ, READ ONLY transaction, keyset pages of 5,000: O(1) memory whatever the size.
 * The report names the first broken event and counts the others.
 */
@Injectable()
export class AuditVerifier {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly sealer: AuditSealer,
  ) {}

  async verify(): Promise<AuditVerificationReport> {
    const startedAt = this.clock.now();
    const started = performance.now();
    const runner = this.dataSource.createQueryRunner();
    let first: BrokenAuditEvent | null = null;
    let broken = 0;
    let checked = 0;
    const note = (problem: BrokenAuditEvent): void => {
      broken += 1;
      first ??= problem;
    };
    let start: { seq: bigint; hash: string };
    let previous: { seq: bigint; hash: string };
    try {
      await runner.startTransaction('REPEATABLE READ');
      await runner.query('SET TRANSACTION READ ONLY');
      start = (await latestPurge(runner.manager)) ?? { seq: 0n, hash: AUDIT_GENESIS_HASH };
      previous = start;
      let after = start.seq;
      for (;;) {
        // The event's columns are null when it is gone: a seal has no foreign key to its event.
        const rows: (NullableRow<AuditEventRow> & { seal_seq: string; event_id: string; prev_hash: string; hash: string })[] =
          await runner.query(
            `SELECT ${EVENT_COLUMNS}, s.seq::text AS seal_seq, s.event_id, s.prev_hash, s.hash
               FROM audit_seals s LEFT JOIN audit_events e ON e.id = s.event_id
              WHERE s.seq > $1 ORDER BY s.seq LIMIT $2`,
            [after.toString(), PAGE_SIZE],
          );
        for (const row of rows) {
          const seq = BigInt(row.seal_seq);
          const where = { seq: row.seal_seq, eventId: row.event_id };
          if (seq !== previous.seq + 1n)
            note({
              ...where,
              kind: 'SEQ_GAP',
              detail: `seq ${previous.seq + 1n}${seq - previous.seq > 2n ? ` to ${seq - 1n}` : ''} missing before this event`,
            });
          if (row.prev_hash !== previous.hash)
            note({ ...where, kind: 'PREV_HASH_MISMATCH', detail: 'prev_hash is not the hash of the event before it' });
          if (!isPresent(row)) note({ ...where, kind: 'EVENT_MISSING', detail: 'the sealed event is no longer in audit_events' });
          else if (auditEventHash(row.prev_hash, row, seq) !== row.hash)
            note({ ...where, kind: 'HASH_MISMATCH', detail: 'the event no longer hashes to its stored hash: a column was changed' });
          previous = { seq, hash: row.hash };
          checked += 1;
        }
        if (rows.length < PAGE_SIZE) break;
        after = previous.seq;
      }
    } finally {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      await runner.release();
    }
    const sealing = await this.sealer.lag();
    const finishedAt = this.clock.now();
    return {
      ok: broken === 0,
      startedAt,
      finishedAt,
      durationMs: Math.round(performance.now() - started),
      eventsChecked: checked,
      startsAfterSeq: start.seq.toString(),
      startsAfterHash: start.hash,
      headSeq: checked === 0 ? null : previous.seq.toString(),
      headHash: checked === 0 ? null : previous.hash,
      firstBrokenEvent: first,
      brokenEventCount: broken,
      sealing,
    };
  }
}
