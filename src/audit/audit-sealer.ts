import { setImmediate as nextTurn } from 'node:timers/promises';
import { Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { Counter, Gauge } from 'prom-client';
import { DataSource, type EntityManager } from 'typeorm';
import { Clock } from '../common/clock/clock.js';
import { AppConfig } from '../config/app-config.js';
import { MetricsService } from '../health/metrics.service.js';
import { AuditService } from './audit.service.js';
import { AUDIT_GENESIS_HASH, auditEventHash, type AuditEventRow, EVENT_COLUMNS } from './audit-chain.js';

/** Serialises sealing and purging across every instance on one database ("seal"). */
export const AUDIT_SEAL_LOCK = 0x7365616c;
/** Events sealed by one UPDATE, in one short transaction. */
export const AUDIT_SEAL_BATCH = 2000;
/** Events hashed between two turns of the event loop while sealing. */
const HASHES_A_TURN = 32;
/** Purges run at most this often from the timer. */
const PURGE_EVERY_MS = 60 * 60 * 1000;
/** Past this lag the sealer logs a warning on every run until it has caught up. */
const LAG_WARNING_SECONDS = 5;

export interface SealLag {
  /** Events written but not yet in the chain (counted up to 1,000,000). */
  readonly unsealedEvents: number;
  readonly oldestUnsealedAt: Date | null;
  /** Age of the oldest unsealed event, by the service's clock; 0 when everything is sealed. */
  readonly lagSeconds: number;
  readonly lastSealedSeq: string | null;
  readonly lastSealedAt: Date | null;
}

export interface ChainHead {
  readonly seq: bigint;
  readonly hash: string;
}

/**
 * Seals audit events into the hash chain (audit-chain.ts), off the request path: writers only INSERT
 * (one cheap statement, batched by AuditService), and this timer, every AUDIT_SEAL_INTERVAL_MS, gives
 * the unsealed events seq numbers in (occurred_at, id) order, chains their hashes onto the head and
 * writes them with one UPDATE a batch. The sealing lag (the age of the oldest unsealed event) is
 * bounded by the interval plus the time to seal what arrived meanwhile (a run loops until nothing is
 * left), exported in /metrics (`audit_seal_lag_seconds`, `audit_unsealed_events`) and in every
 * verification report.
 *
 * Several instances: a run takes a transaction-scoped advisory lock, so one instance seals at a time
 * and a chain never forks; the timer only tries the lock (another instance is already sealing), an
 * explicit sealPending() waits for it.
 */
@Injectable()
export class AuditSealer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(AuditSealer.name);
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private lastPurgeMs = 0;
  private readonly sealedTotal: Counter;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly config: AppConfig,
    private readonly audit: AuditService,
    metrics: MetricsService,
  ) {
    this.sealedTotal = new Counter({
      name: 'audit_events_sealed_total',
      help: 'Audit events sealed into the hash chain by this instance.',
      registers: [metrics.registry],
    });
    const lag = (): Promise<SealLag> => this.lag();
    new Gauge({
      name: 'audit_seal_lag_seconds',
      help: 'Age of the oldest audit event not yet sealed into the hash chain (0: all sealed).',
      registers: [metrics.registry],
      async collect() {
        this.set((await lag()).lagSeconds);
      },
    });
    new Gauge({
      name: 'audit_unsealed_events',
      help: 'Audit events written but not yet sealed into the hash chain.',
      registers: [metrics.registry],
      async collect() {
        this.set((await lag()).unsealedEvents);
      },
    });
  }

  onApplicationBootstrap(): void {
    if (this.config.audit.sealIntervalMs > 0) this.schedule();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.running = this.tick().finally(() => {
        this.running = undefined;
        if (!this.stopped) this.schedule();
      });
    }, this.config.audit.sealIntervalMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      await this.sealPending({ wait: false });
      const lag = await this.lag();
      if (lag.lagSeconds > LAG_WARNING_SECONDS)
        this.logger.warn({ lagSeconds: lag.lagSeconds, unsealedEvents: lag.unsealedEvents }, 'audit sealing is behind');
      if (this.config.audit.retentionDays > 0 && this.clock.nowMs() - this.lastPurgeMs >= PURGE_EVERY_MS) {
        this.lastPurgeMs = this.clock.nowMs();
        await this.purgeExpired();
      }
    } catch (error) {
      if (!this.stopped) this.logger.error({ err: error }, 'audit sealing failed; retrying at the next interval');
    }
  }

  /**
   * Seals every event committed so far, a batch a transaction, and returns how many. `wait: false`
   * gives up at once (returning 0) when another instance holds the lock.
   */
  async sealPending(options: { wait?: boolean } = {}): Promise<number> {
    let total = 0;
    for (;;) {
      const sealed = await this.sealBatch(options.wait ?? true);
      if (sealed === null) return total;
      total += sealed;
      if (sealed < AUDIT_SEAL_BATCH) return total;
    }
  }

  /** One batch in one transaction; null when the lock was not free and `wait` is false. */
  private async sealBatch(wait: boolean): Promise<number | null> {
    return this.dataSource.transaction('READ COMMITTED', async (manager) => {
      if (!(await this.lock(manager, wait))) return null;
      const head = await chainHead(manager);
      const rows: AuditEventRow[] = await manager.query(
        `SELECT ${EVENT_COLUMNS} FROM audit_events WHERE seq IS NULL ORDER BY occurred_at, id LIMIT $1`,
        [AUDIT_SEAL_BATCH],
      );
      if (rows.length === 0) return 0;
      const ids: string[] = [];
      const seqs: string[] = [];
      const prevHashes: string[] = [];
      const hashes: string[] = [];
      let prevHash = head.hash;
      let seq = head.seq;
      for (const [index, row] of rows.entries()) {
        // About 11 µs a hash: a batch of AUDIT_SEAL_BATCH would hold the event loop for some 20 ms,
        // and every request in flight with it; a turn every HASHES_A_TURN lets them through.
        if (index > 0 && index % HASHES_A_TURN === 0) await nextTurn();
        seq += 1n;
        const hash = auditEventHash(prevHash, row, seq);
        ids.push(row.id);
        seqs.push(seq.toString());
        prevHashes.push(prevHash);
        hashes.push(hash);
        prevHash = hash;
      }
      const [, affected] = (await manager.query(
        `UPDATE audit_events a SET seq = u.seq, prev_hash = u.prev_hash, hash = u.hash, sealed_at = $5
           FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[]) AS u(id, seq, prev_hash, hash)
          WHERE a.id = u.id AND a.seq IS NULL`,
        [ids, seqs, prevHashes, hashes, this.clock.now()],
      )) as [unknown, number];
      // Under the lock nobody else seals, and nobody else may change a row: anything else is corruption.
      if (affected !== rows.length) throw new Error(`audit sealing: sealed ${affected} of ${rows.length} events`);
      this.sealedTotal.inc(rows.length);
      return rows.length;
    });
  }

  private async lock(manager: EntityManager, wait: boolean): Promise<boolean> {
    if (wait) {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_SEAL_LOCK]);
      return true;
    }
    const rows: { locked: boolean }[] = await manager.query('SELECT pg_try_advisory_xact_lock($1) AS locked', [AUDIT_SEAL_LOCK]);
    return rows[0]?.locked === true;
  }

  /** How far sealing is behind, as of now. */
  async lag(): Promise<SealLag> {
    const [row]: {
      unsealed: string;
      oldest: Date | null;
      last_seq: string | null;
      last_sealed_at: Date | null;
    }[] = await this.dataSource.query(
      `SELECT (SELECT count(*) FROM (SELECT 1 FROM audit_events WHERE seq IS NULL LIMIT 1000000) pending)::text AS unsealed,
              (SELECT occurred_at FROM audit_events WHERE seq IS NULL ORDER BY occurred_at, id LIMIT 1) AS oldest,
              last.seq::text AS last_seq, last.sealed_at AS last_sealed_at
         FROM (SELECT 1) one
         LEFT JOIN LATERAL (SELECT seq, sealed_at FROM audit_events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1) last ON true`,
    );
    const oldest = row?.oldest ?? null;
    return {
      unsealedEvents: Number(row?.unsealed ?? 0),
      oldestUnsealedAt: oldest,
      lagSeconds: oldest === null ? 0 : Math.max(0, (this.clock.nowMs() - oldest.getTime()) / 1000),
      lastSealedSeq: row?.last_seq ?? null,
      lastSealedAt: row?.last_sealed_at ?? null,
    };
  }

  /**
   * Deletes the events older than AUDIT_RETENTION_DAYS, through the one door the table leaves open
   * (migrations/1763712800000-audit-chain-retention.ts): first a purge record naming the last purged
   * seq and its hash, then the delete, then an event saying so, in one transaction under the sealer's
   * lock. Only whole prefixes of the chain are purged (up to the first event that is still young), so
   * what is left verifies from the purge record. Returns the number of events deleted.
   */
  async purgeExpired(retentionDays = this.config.audit.retentionDays): Promise<number> {
    if (!Number.isSafeInteger(retentionDays) || retentionDays < 1) throw new Error('audit purge: retention is at least one day');
    const cutoff = new Date(this.clock.nowMs() - retentionDays * 86_400_000);
    // Whatever is old and not yet sealed is sealed first: a purge never takes an unsealed event.
    await this.sealPending();
    return this.dataSource.transaction('READ COMMITTED', async (manager) => {
      await this.lock(manager, true);
      const purgedThrough = (await latestPurge(manager))?.seq ?? 0n;
      const [young]: { seq: string | null }[] = await manager.query(
        'SELECT min(seq)::text AS seq FROM audit_events WHERE seq IS NOT NULL AND occurred_at >= $1',
        [cutoff],
      );
      const head = await chainHead(manager);
      const through = young?.seq === null || young?.seq === undefined ? head.seq : BigInt(young.seq) - 1n;
      if (through <= purgedThrough) return 0;
      const [last]: { hash: string }[] = await manager.query('SELECT hash FROM audit_events WHERE seq = $1', [through.toString()]);
      if (last === undefined) throw new Error(`audit purge: no sealed event at seq ${through}`);
      const [purge]: { number: string }[] = await manager.query(
        `INSERT INTO audit_purges (number, through_seq, through_hash, events_purged, cutoff, purged_at)
         SELECT coalesce(max(number), 0) + 1, $1, $2,
                (SELECT count(*) FROM audit_events WHERE seq IS NOT NULL AND seq <= $1), $3, $4
           FROM audit_purges
         RETURNING number::text AS number`,
        [through.toString(), last.hash, cutoff, this.clock.now()],
      );
      const [, deleted] = (await manager.query('DELETE FROM audit_events WHERE seq IS NOT NULL AND seq <= $1', [through.toString()])) as [
        unknown,
        number,
      ];
      await this.audit.record(
        {
          actor: null,
          action: 'audit.events.purged',
          resourceType: 'audit_purge',
          resourceId: purge?.number ?? null,
          outcome: 'success',
          details: { throughSeq: through.toString(), eventsPurged: deleted, retentionDays, cutoff: cutoff.toISOString() },
        },
        manager,
      );
      return deleted;
    });
  }
}

/** The chain's last link: the highest sealed event, or the latest purge when everything up to it was purged, or the genesis. */
export async function chainHead(manager: EntityManager): Promise<ChainHead> {
  const rows: { seq: string; hash: string }[] = await manager.query(
    'SELECT seq::text AS seq, hash FROM audit_events WHERE seq IS NOT NULL ORDER BY audit_events.seq DESC LIMIT 1',
  );
  const sealed = rows[0];
  if (sealed !== undefined) return { seq: BigInt(sealed.seq), hash: sealed.hash };
  return (await latestPurge(manager)) ?? { seq: 0n, hash: AUDIT_GENESIS_HASH };
}

export async function latestPurge(manager: EntityManager): Promise<ChainHead | null> {
  const rows: { through_seq: string; through_hash: string }[] = await manager.query(
    'SELECT through_seq::text AS through_seq, through_hash FROM audit_purges ORDER BY number DESC LIMIT 1',
  );
  const row = rows[0];
  return row === undefined ? null : { seq: BigInt(row.through_seq), hash: row.through_hash };
}
