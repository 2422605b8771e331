import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
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
/** Events sealed by one INSERT into audit_seals, in one short transaction. */
export const AUDIT_SEAL_BATCH = 2000;
/** Events hashed between two turns of the event loop while sealing. */
const HASHES_A_TURN = 32;
/** Purges run at most this often from the timer. */
const PURGE_EVERY_MS = 60 * 60 * 1000;
/** Past this lag the sealer logs a warning, checked about this often, until it has caught up. */
const LAG_WARNING_SECONDS = 5;
/** An explicit sealPending() waits at most this long for the horizon to pass what it was asked to seal. */
const HORIZON_WAIT_MS = 5000;
/** And meanwhile tries again this often. */
const HORIZON_RETRY_MS = 10;

/**
 * The events not in the chain yet, as `e`, given the xid of the chain head's event as the parameter
 * `xid` names (see sealHead): every unsealed event has that xid or a higher one (see AuditSealer). Read
 * through readingUnsealed, so that the (xid, occurred_at, id) index finds them.
 */
function unsealedFrom(xid: string): string {
  return `e.xid >= ${xid}::xid8 AND NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.event_id = e.id)`;
}

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
 * the unsealed events seq numbers, chains their hashes onto the head and writes them with one INSERT
 * into `audit_seals` a batch: audit_events itself is never updated
 * (migrations/1763713000000-audit-seals-apart.ts). The sealing lag (the age of the oldest unsealed
 * event) is bounded by the interval plus the time to seal what arrived meanwhile (a run loops until
 * nothing is left), exported in /metrics (`audit_seal_lag_seconds`, `audit_unsealed_events`) and in
 * every verification report.
 *
 * Which events, in what order. Events are sealed in (xid, occurred_at, id) order, xid being the id of
 * the transaction that wrote the event (set by the table's trigger): roughly the order in which the
 * writing transactions first wrote. An event is sealed only once every transaction with a lower xid
 * has finished: one statement takes the events with `xid >= the head's xid` and `xid <` its own
 * snapshot's xmin (the oldest transaction still running), not sealed yet. That never skips one:
 * - every xid below the snapshot's xmin is finished and, if it committed, its events are visible to
 *   that same snapshot, so the statement sees all of them;
 * - the chain's head only moves forward in xid: a batch is sealed in xid order, and a transaction that
 *   had not finished when a batch was sealed has a higher xid than anything in it (it was at or above
 *   the xmin), as has every transaction that starts writing later;
 * - the events of the head's own xid not yet sealed (a batch cut by its LIMIT, or the rows migrated
 *   with xid 1) are found by `xid >= head's xid` and NOT EXISTS a seal.
 * xids are 64-bit (xid8) and never wrap around. The horizon is the whole server's, not this database's:
 * a long-running transaction that has written anything anywhere on it (or a prepared one) holds sealing
 * back until it ends, and the lag metric shows it (its unsealed events are counted as they wait).
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
  private lastLagCheckMs = 0;
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
      // The lag is read once in a while, not after every run: the warning is about seconds, and reading
      // it costs a scan of what is unsealed.
      if (this.clock.nowMs() - this.lastLagCheckMs >= LAG_WARNING_SECONDS * 1000) {
        this.lastLagCheckMs = this.clock.nowMs();
        const lag = await this.lag();
        if (lag.lagSeconds > LAG_WARNING_SECONDS)
          this.logger.warn({ lagSeconds: lag.lagSeconds, unsealedEvents: lag.unsealedEvents }, 'audit sealing is behind');
      }
      if (this.config.audit.retentionDays > 0 && this.clock.nowMs() - this.lastPurgeMs >= PURGE_EVERY_MS) {
        this.lastPurgeMs = this.clock.nowMs();
        await this.purgeExpired();
      }
    } catch (error) {
      if (!this.stopped) this.logger.error({ err: error }, 'audit sealing failed; retrying at the next interval');
    }
  }

  /**
   * Seals every event committed so far, a batch a transaction, and returns how many. `wait: false` (the
   * timer) gives up at once (returning 0) when another instance holds the lock, and seals only what the
   * horizon has passed. By default it waits for the lock, and for the horizon to pass every event
   * committed when it was called (another transaction on the server, however short, can hold it back for
   * a moment), for at most HORIZON_WAIT_MS: then it returns what it sealed.
   */
  async sealPending(options: { wait?: boolean } = {}): Promise<number> {
    const wait = options.wait ?? true;
    const committedNow = wait ? await this.currentSnapshot() : undefined;
    const deadline = performance.now() + HORIZON_WAIT_MS;
    let total = 0;
    for (;;) {
      const sealed = await this.sealBatch(wait);
      if (sealed === null) return total;
      total += sealed;
      if (sealed === AUDIT_SEAL_BATCH) continue;
      if (committedNow === undefined || performance.now() >= deadline || !(await this.unsealedIn(committedNow))) return total;
      await sleep(HORIZON_RETRY_MS);
    }
  }

  private async currentSnapshot(): Promise<string> {
    const rows: { snapshot: string }[] = await this.dataSource.query('SELECT pg_current_snapshot()::text AS snapshot');
    const snapshot = rows[0]?.snapshot;
    if (snapshot === undefined) throw new Error('audit sealing: no current snapshot');
    return snapshot;
  }

  /** Whether an event committed as of `snapshot` is still not sealed. */
  private async unsealedIn(snapshot: string): Promise<boolean> {
    return this.readingUnsealed(async (manager) => {
      const head = await sealHead(manager);
      const rows: { pending: boolean }[] = await manager.query(
        `SELECT EXISTS (
           SELECT 1 FROM audit_events e
            WHERE ${unsealedFrom('$2')} AND pg_visible_in_snapshot(e.xid, $1::pg_snapshot)) AS pending`,
        [snapshot, head.xid],
      );
      return rows[0]?.pending === true;
    });
  }

  /**
   * Reads the unsealed events (unsealedFrom) by index, whatever the planner estimates: without recent
   * statistics on xid (a young or fast-growing table) it takes `xid >= the head's` for a third of the
   * table and reads all of it and every seal (19 ms at 18,000 events under the payments bench, and
   * growing with the table), where the index finds the few past the head and probes their seals.
   */
  private async readingUnsealed<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction('READ COMMITTED', async (manager) => {
      // SET LOCAL, for this transaction only, the three in one round trip.
      await manager.query(
        "SELECT set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)",
      );
      return work(manager);
    });
  }

  /** One batch in one transaction; null when the lock was not free and `wait` is false. */
  private async sealBatch(wait: boolean): Promise<number | null> {
    return this.dataSource.transaction('READ COMMITTED', async (manager) => {
      if (!(await this.lock(manager, wait))) return null;
      const head = await sealHead(manager);
      // pg_current_snapshot() is this statement's own snapshot: what is below its xmin, it sees.
      const rows: AuditEventRow[] = await manager.query(
        `SELECT ${EVENT_COLUMNS} FROM audit_events e
          WHERE e.xid >= $1::xid8 AND e.xid < pg_snapshot_xmin(pg_current_snapshot())
            AND NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.event_id = e.id)
          ORDER BY e.xid, e.occurred_at, e.id
          LIMIT $2`,
        [head.xid, AUDIT_SEAL_BATCH],
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
      const [inserted]: { sealed: number }[] = await manager.query(
        `WITH sealed AS (
           INSERT INTO audit_seals (seq, event_id, prev_hash, hash, sealed_at)
           SELECT u.seq, u.event_id, u.prev_hash, u.hash, $5
             FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::text[]) AS u(seq, event_id, prev_hash, hash)
           RETURNING 1)
         SELECT count(*)::int AS sealed FROM sealed`,
        [seqs, ids, prevHashes, hashes, this.clock.now()],
      );
      // Under the lock nobody else seals (a seq or an event sealed twice would have failed the insert):
      // anything else is corruption.
      if (inserted?.sealed !== rows.length) throw new Error(`audit sealing: sealed ${inserted?.sealed} of ${rows.length} events`);
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

  /** How far sealing is behind, as of now: unsealed events include those waiting for the horizon. */
  async lag(): Promise<SealLag> {
    const { head, row } = await this.readingUnsealed(async (manager) => {
      const head = await sealHead(manager);
      // Counted and dated in one scan of the unsealed.
      const [row]: { unsealed: string; oldest: Date | null }[] = await manager.query(
        `SELECT count(*)::text AS unsealed, min(occurred_at) AS oldest
           FROM (SELECT e.occurred_at FROM audit_events e WHERE ${unsealedFrom('$1')} LIMIT 1000000) pending`,
        [head.xid],
      );
      return { head, row };
    });
    const oldest = row?.oldest ?? null;
    return {
      unsealedEvents: Number(row?.unsealed ?? 0),
      oldestUnsealedAt: oldest,
      lagSeconds: oldest === null ? 0 : Math.max(0, (this.clock.nowMs() - oldest.getTime()) / 1000),
      lastSealedSeq: head.sealedAt === null ? null : head.seq.toString(),
      lastSealedAt: head.sealedAt,
    };
  }

  /**
   * Deletes the events older than AUDIT_RETENTION_DAYS, through the one door the tables leave open
   * (migrations/1763712800000-audit-chain-retention.ts, 1763713000000-audit-seals-apart.ts): first a
   * purge record naming the last purged seq and its hash, then the events, then their seals (each
   * table's trigger checks the purge record covers them), then an event saying so, in one transaction
   * under the sealer's lock. Only whole prefixes of the chain are purged (up to the first event that is
   * still young), so what is left verifies from the purge record. Returns the number of events deleted.
   */
  async purgeExpired(retentionDays = this.config.audit.retentionDays): Promise<number> {
    if (!Number.isSafeInteger(retentionDays) || retentionDays < 1) throw new Error('audit purge: retention is at least one day');
    const cutoff = new Date(this.clock.nowMs() - retentionDays * 86_400_000);
    // Whatever is old and not yet sealed is sealed first: a purge never takes an unsealed event.
    await this.sealPending();
    return this.dataSource.transaction('READ COMMITTED', async (manager) => {
      await this.lock(manager, true);
      const purgedThrough = (await latestPurge(manager))?.seq ?? 0n;
      // The chain in seq order from the last purge, up to the first event still young: the old ones
      // before it are what this purge deletes.
      const [young]: { seq: string }[] = await manager.query(
        `SELECT s.seq::text AS seq FROM audit_seals s JOIN audit_events e ON e.id = s.event_id
          WHERE s.seq > $1 AND e.occurred_at >= $2
          ORDER BY s.seq LIMIT 1`,
        [purgedThrough.toString(), cutoff],
      );
      const head = await chainHead(manager);
      const through = young === undefined ? head.seq : BigInt(young.seq) - 1n;
      if (through <= purgedThrough) return 0;
      const [last]: { hash: string }[] = await manager.query('SELECT hash FROM audit_seals WHERE seq = $1', [through.toString()]);
      if (last === undefined) throw new Error(`audit purge: no seal at seq ${through}`);
      const [purge]: { number: string }[] = await manager.query(
        `INSERT INTO audit_purges (number, through_seq, through_hash, events_purged, cutoff, purged_at)
         SELECT coalesce(max(number), 0) + 1, $1, $2,
                (SELECT count(*) FROM audit_seals s JOIN audit_events e ON e.id = s.event_id WHERE s.seq <= $1), $3, $4
           FROM audit_purges
         RETURNING number::text AS number`,
        [through.toString(), last.hash, cutoff, this.clock.now()],
      );
      // The events first: their trigger looks for their seals.
      const [, deleted] = (await manager.query('DELETE FROM audit_events e USING audit_seals s WHERE s.event_id = e.id AND s.seq <= $1', [
        through.toString(),
      ])) as [unknown, number];
      await manager.query('DELETE FROM audit_seals WHERE seq <= $1', [through.toString()]);
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

/** The chain's head, and the xid of its event: the sealer looks for unsealed events from that xid on. */
interface SealHead extends ChainHead {
  /** '0' when nothing is sealed, or the head's event is gone (purged, or deleted around the trigger). */
  readonly xid: string;
  /** When the head's seal was written; null when no seal is left (nothing sealed yet, or all purged). */
  readonly sealedAt: Date | null;
}

async function sealHead(manager: EntityManager): Promise<SealHead> {
  const rows: { seq: string; hash: string; xid: string; sealed_at: Date }[] = await manager.query(
    `SELECT s.seq::text AS seq, s.hash, coalesce(e.xid, '0'::xid8)::text AS xid, s.sealed_at
       FROM audit_seals s LEFT JOIN audit_events e ON e.id = s.event_id
      ORDER BY s.seq DESC LIMIT 1`,
  );
  const sealed = rows[0];
  if (sealed !== undefined) return { seq: BigInt(sealed.seq), hash: sealed.hash, xid: sealed.xid, sealedAt: sealed.sealed_at };
  return { ...((await latestPurge(manager)) ?? { seq: 0n, hash: AUDIT_GENESIS_HASH }), xid: '0', sealedAt: null };
}

/** The chain's last link: the highest seal, or the latest purge when everything up to it was purged, or the genesis. */
export async function chainHead(manager: EntityManager): Promise<ChainHead> {
  const { seq, hash } = await sealHead(manager);
  return { seq, hash };
}

export async function latestPurge(manager: EntityManager): Promise<ChainHead | null> {
  const rows: { through_seq: string; through_hash: string }[] = await manager.query(
    'SELECT through_seq::text AS through_seq, through_hash FROM audit_purges ORDER BY number DESC LIMIT 1',
  );
  const row = rows[0];
  return row === undefined ? null : { seq: BigInt(row.through_seq), hash: row.through_hash };
}
