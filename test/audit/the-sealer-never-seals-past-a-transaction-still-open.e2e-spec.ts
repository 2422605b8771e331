import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { QueryRunner } from 'typeorm';
import { AuditSealer } from '../../src/audit/audit-sealer.js';
import { AuditVerifier } from '../../src/audit/audit-verifier.js';
import { AuditService } from '../../src/audit/audit.service.js';
import { ManualClock } from '../../src/common/clock/clock.js';
import { testServerUrl } from '../support/test-database.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

// Two transactions at once: embedded PGlite has one connection, and one transaction at a time.
const onServer = testServerUrl() === undefined ? describe.skip : describe;

/**
 * The sealer seals in (xid, occurred_at, id) order, and only past the oldest transaction still
 * running: an event committed late by a transaction that began writing early is sealed in its place,
 * never skipped (src/audit/audit-sealer.ts).
 */
onServer('the sealer and a transaction still open', () => {
  let t: TestApp;
  let sealer: AuditSealer;
  let audit: AuditService;
  const clock = new ManualClock('2026-03-01T08:00:00.000Z');

  const record = (resourceId: string, runner?: QueryRunner): Promise<string> =>
    audit.record({ actor: null, action: 'test.horizon.step', resourceType: 'test', resourceId, outcome: 'success' }, runner?.manager);

  /** Opens a transaction on a connection of its own, and gives it an xid (as its first write would). */
  const openTransaction = async (): Promise<{ runner: QueryRunner; xid: string }> => {
    const runner = t.dataSource.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    const [row] = (await runner.query('SELECT pg_current_xact_id()::text AS xid')) as { xid: string }[];
    return { runner, xid: row!.xid };
  };

  const sealOf = async (eventId: string): Promise<string | null> => {
    const rows: { seq: string }[] = await t.dataSource.query('SELECT seq::text AS seq FROM audit_seals WHERE event_id = $1', [eventId]);
    return rows[0]?.seq ?? null;
  };

  beforeAll(async () => {
    t = await startTestApp({ clock, env: { AUDIT_SEAL_INTERVAL_MS: '0' } });
    sealer = t.app.get(AuditSealer);
    audit = t.app.get(AuditService);
    await sealer.sealPending();
  });

  afterAll(async () => {
    await t?.close();
  });

  it('does not seal an event of a later transaction while an earlier one is open, then seals both in xid order', async () => {
    const early = await openTransaction();
    let earlyId: string;
    try {
      clock.advance(1000);
      earlyId = await record('early', early.runner);
      clock.advance(1000);
      const lateId = await record('late');
      const [late] = (await t.dataSource.query('SELECT xid::text AS xid FROM audit_events WHERE id = $1', [lateId])) as { xid: string }[];
      expect(BigInt(late!.xid)).toBeGreaterThan(BigInt(early.xid));

      await sealer.sealPending({ wait: false });
      expect(await sealOf(lateId)).toBeNull();
      const past: { n: number }[] = await t.dataSource.query(
        'SELECT count(*)::int AS n FROM audit_seals s JOIN audit_events e ON e.id = s.event_id WHERE e.xid >= $1::xid8',
        [early.xid],
      );
      expect(past[0]!.n).toBe(0);
      // The wait shows as sealing lag.
      expect((await sealer.lag()).unsealedEvents).toBeGreaterThanOrEqual(1);

      await early.runner.commitTransaction();
      await sealer.sealPending();
      const earlySeq = await sealOf(earlyId);
      const lateSeq = await sealOf(lateId);
      expect(earlySeq).not.toBeNull();
      expect(lateSeq).not.toBeNull();
      // Written later, but by a transaction that got its xid first: sealed first.
      expect(BigInt(earlySeq!)).toBeLessThan(BigInt(lateSeq!));
    } finally {
      if (early.runner.isTransactionActive) await early.runner.rollbackTransaction();
      await early.runner.release();
    }
    const report = await t.app.get(AuditVerifier).verify();
    expect(report).toMatchObject({ ok: true, brokenEventCount: 0 });
  });

  it('an explicit sealPending waits for a short transaction to end, and seals what was committed when it was called', async () => {
    const other = await openTransaction();
    try {
      clock.advance(1000);
      const committed = await record('committed-while-another-is-open');
      const sealing = sealer.sealPending();
      await new Promise((resolve) => setTimeout(resolve, 200));
      await other.runner.commitTransaction();
      await sealing;
      expect(await sealOf(committed)).not.toBeNull();
    } finally {
      if (other.runner.isTransactionActive) await other.runner.rollbackTransaction();
      await other.runner.release();
    }
  });
});
