import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MIGRATIONS } from '../../migrations/index.js';
import { AUDIT_GENESIS_HASH, auditEventHash, type AuditEventRow, EVENT_COLUMNS } from '../../src/audit/audit-chain.js';
import { AuditSealer } from '../../src/audit/audit-sealer.js';
import { AuditVerifier } from '../../src/audit/audit-verifier.js';
import { ManualClock } from '../../src/common/clock/clock.js';
import { revertLastMigration, runPendingMigrations } from '../../src/database/migration-runner.js';
import { migratedThrough } from '../support/migrated-through.js';
import { createTestDatabase, type TestDatabase, testServerUrl } from '../support/test-database.js';
import { startTestApp } from '../support/test-app.js';

// A database of its own, migrated step by step: on a PostgreSQL server only.
const onServer = testServerUrl() === undefined ? describe.skip : describe;

const SEALS_APART = 'AuditSealsApart1763713000000';

/**
 * migrations/1763713000000-audit-seals-apart.ts on a database that already has a chain: the seals
 * move to audit_seals unchanged, an event left unsealed is sealed next, and `down` puts them back.
 */
onServer('moving the seals out of audit_events', () => {
  let database: TestDatabase;
  let url: string;
  const seals = new Map<string, { seq: string; prev_hash: string; hash: string }>();

  beforeAll(async () => {
    database = await createTestDatabase();
    url = database.url!;
    const before = await migratedThrough(url, 'AuditSealCheckByRecord1763712910000');
    try {
      // Three events as the old schema held them: the first two sealed (by the old one-time UPDATE), the third not.
      for (const [index, at] of ['2026-01-01T00:00:01Z', '2026-01-01T00:00:02Z', '2026-01-01T00:00:03Z'].entries())
        await before.query(
          `INSERT INTO audit_events (id, occurred_at, action, resource_type, resource_id, outcome)
           VALUES (gen_random_uuid(), $1, 'test.migration.step', 'test', $2, 'success')`,
          [at, `step-${index}`],
        );
      const rows: AuditEventRow[] = await before.query(`SELECT ${EVENT_COLUMNS} FROM audit_events ORDER BY occurred_at, id LIMIT 2`);
      let prevHash = AUDIT_GENESIS_HASH;
      for (const [index, row] of rows.entries()) {
        const seq = BigInt(index + 1);
        const hash = auditEventHash(prevHash, row, seq);
        await before.query('UPDATE audit_events SET seq = $2, prev_hash = $3, hash = $4, sealed_at = now() WHERE id = $1', [
          row.id,
          seq.toString(),
          prevHash,
          hash,
        ]);
        seals.set(row.id, { seq: seq.toString(), prev_hash: prevHash, hash });
        prevHash = hash;
      }
    } finally {
      await before.destroy();
    }
  });

  afterAll(async () => {
    await database?.drop();
  });

  it('copies every seal, leaves audit_events without seal columns, and the sealer continues the chain from them', async () => {
    const after = await migratedThrough(url, SEALS_APART);
    try {
      const moved: { event_id: string; seq: string; prev_hash: string; hash: string }[] = await after.query(
        'SELECT event_id, seq::text AS seq, prev_hash, hash FROM audit_seals ORDER BY seq',
      );
      expect(moved).toEqual([...seals].map(([eventId, seal]) => ({ event_id: eventId, ...seal })));
      const columns: { column_name: string }[] = await after.query(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'audit_events' AND table_schema = current_schema()",
      );
      expect(columns.map((column) => column.column_name)).toContain('xid');
      expect(columns.map((column) => column.column_name)).not.toEqual(expect.arrayContaining(['seq']));
      const xids: { xid: string }[] = await after.query('SELECT DISTINCT xid::text AS xid FROM audit_events');
      expect(xids).toEqual([{ xid: '1' }]);
    } finally {
      await after.destroy();
    }

    // The application on this database (its own test database is not used): the unsealed step first.
    const t = await startTestApp({
      clock: new ManualClock('2026-01-02T00:00:00Z'),
      env: { DATABASE_URL: url, AUDIT_SEAL_INTERVAL_MS: '0' },
    });
    try {
      await t.app.get(AuditSealer).sealPending();
      const [third] = (await t.dataSource.query(
        `SELECT s.seq::text AS seq FROM audit_seals s JOIN audit_events e ON e.id = s.event_id WHERE e.resource_id = 'step-2'`,
      )) as { seq: string }[];
      expect(third).toEqual({ seq: '3' });
      expect(await t.app.get(AuditVerifier).verify()).toMatchObject({ ok: true, brokenEventCount: 0, startsAfterSeq: '0' });
    } finally {
      await t.close();
    }
  });

  it('down puts every seal back on its event', async () => {
    const after = await migratedThrough(url, MIGRATIONS[MIGRATIONS.length - 1]?.name ?? SEALS_APART);
    try {
      const expected: { event_id: string; seq: string; hash: string }[] = await after.query(
        'SELECT event_id, seq::text AS seq, hash FROM audit_seals ORDER BY seq',
      );
      expect(expected.length).toBeGreaterThan(3);
      // The migrations after it are reverted first, then it.
      const applied = async (): Promise<boolean> =>
        (await after.query('SELECT 1 FROM typeorm_migrations WHERE name = $1', [SEALS_APART])).length > 0;
      while (await applied()) await revertLastMigration(after);
      const back: { event_id: string; seq: string; hash: string }[] = await after.query(
        'SELECT id AS event_id, seq::text AS seq, hash FROM audit_events WHERE seq IS NOT NULL ORDER BY seq',
      );
      expect(back).toEqual(expected);
      const tables: { n: number }[] = await after.query(
        "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = 'audit_seals' AND table_schema = current_schema()",
      );
      expect(tables).toEqual([{ n: 0 }]);
      // And up again, to where the other tests are.
      await runPendingMigrations(after);
      expect(await after.query('SELECT count(*)::int AS n FROM audit_seals')).toEqual([{ n: expected.length }]);
    } finally {
      await after.destroy();
    }
  });
});
