import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ManualClock } from '../../src/common/clock/clock.js';
import { canonicalJson } from '../../src/common/canonical-json.js';
import { AuditSealer } from '../../src/audit/audit-sealer.js';
import { AuditService } from '../../src/audit/audit.service.js';
import { clientCredentialsToken, createConfidentialClient } from '../support/oauth.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/** Changes rows as a superuser would, with the triggers off for this transaction only; each statement must change one row. */
async function tamper(t: TestApp, sql: string, parameters: unknown[]): Promise<void> {
  const runner = t.dataSource.createQueryRunner();
  try {
    await runner.startTransaction();
    await runner.query('SET LOCAL session_replication_role = replica');
    const result = await runner.query(sql, parameters, true);
    expect(result.affected).toBe(1);
    await runner.commitTransaction();
  } finally {
    if (runner.isTransactionActive) await runner.rollbackTransaction();
    await runner.release();
  }
}

interface SealedRow {
  id: string;
  seq: string;
  prev_hash: string;
  hash: string;
  action: string;
}

describe('the audit chain', () => {
  let t: TestApp;
  let sealer: AuditSealer;
  let audit: AuditService;
  let complianceToken: string;
  let platformToken: string;
  const clock = new ManualClock('2026-03-01T08:00:00.000Z');

  /** The chain: every seal in seq order, with its event's action (null when the event is gone). */
  const sealed = async (): Promise<SealedRow[]> =>
    t.dataSource.query(
      `SELECT s.event_id AS id, s.seq::text AS seq, s.prev_hash, s.hash, e.action
         FROM audit_seals s LEFT JOIN audit_events e ON e.id = s.event_id ORDER BY s.seq`,
    );
  const verify = async () => {
    const response = await t.http().post('/v1/audit/verifications').auth(complianceToken, { type: 'bearer' });
    expect(response.status).toBe(200);
    return response.body as {
      ok: boolean;
      eventsChecked: number;
      headSeq: string | null;
      startsAfterSeq: string;
      firstBrokenEvent: { kind: string; seq: string; eventId: string } | null;
      brokenEventCount: number;
      sealing: { unsealedEvents: number; lagSeconds: number };
    };
  };

  beforeAll(async () => {
    // The timer is off: this test seals when it chooses, so that it knows exactly what is in the chain.
    t = await startTestApp({ clock, env: { AUDIT_SEAL_INTERVAL_MS: '0' } });
    sealer = t.app.get(AuditSealer);
    audit = t.app.get(AuditService);
    const compliance = await createConfidentialClient(t, 'compliance', null);
    const platform = await createConfidentialClient(t, 'platform', null);
    complianceToken = await clientCredentialsToken(t, compliance.clientId, compliance.clientSecret, 'audit:read');
    platformToken = await clientCredentialsToken(t, platform.clientId, platform.clientSecret, 'admin ledger:write');
  });

  afterAll(async () => {
    await t?.close();
  });

  it('seals every event in (xid, occurred_at, id) order, each linked to the one before and hashing to its canonical form', async () => {
    for (let index = 0; index < 5; index += 1) {
      clock.advance(1000);
      await audit.record({ actor: null, action: 'test.chain.step', resourceType: 'test', resourceId: `step-${index}`, outcome: 'success' });
    }
    const counted = (await t.dataSource.query(
      'SELECT count(*)::int AS unsealed FROM audit_events e WHERE NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.event_id = e.id)',
    )) as { unsealed: number }[];
    const unsealed = counted[0]!.unsealed;
    expect(unsealed).toBeGreaterThanOrEqual(5);
    clock.advance(2000);
    const lag = await sealer.lag();
    expect(lag.unsealedEvents).toBe(unsealed);
    // The oldest unsealed event was written before the five steps (client creation, token issue): at least 7 s ago.
    expect(lag.lagSeconds).toBeGreaterThanOrEqual(7);
    expect(await sealer.sealPending()).toBe(unsealed);
    expect((await sealer.lag()).unsealedEvents).toBe(0);
    expect((await sealer.lag()).lagSeconds).toBe(0);

    const chain = await sealed();
    expect(chain.map((row) => row.seq)).toEqual(chain.map((_, index) => String(index + 1)));
    const ordered: { id: string }[] = await t.dataSource.query('SELECT id FROM audit_events ORDER BY xid, occurred_at, id');
    expect(chain.map((row) => row.id)).toEqual(ordered.map((row) => row.id));
    // Written one after the other, each committed before the next began: in the order they were written.
    const steps = chain.filter((row) => row.action === 'test.chain.step').map((row) => row.id);
    const stepsByTime: { id: string }[] = await t.dataSource.query(
      `SELECT id FROM audit_events WHERE action = 'test.chain.step' ORDER BY occurred_at, id`,
    );
    expect(steps).toEqual(stepsByTime.map((row) => row.id));
    expect(chain[0]!.prev_hash).toBe('0'.repeat(64));
    for (let index = 1; index < chain.length; index += 1) expect(chain[index]!.prev_hash).toBe(chain[index - 1]!.hash);

    // The hash recomputed here, independently of src/audit/audit-chain.ts's code, from the documented form.
    const [row] = (await t.dataSource.query(
      `SELECT e.*, s.seq, s.prev_hash, s.hash, (extract(epoch FROM e.occurred_at) * 1000000)::bigint::text AS us
         FROM audit_events e JOIN audit_seals s ON s.event_id = e.id WHERE e.resource_id = 'step-2'`,
    )) as Record<string, unknown>[];
    const canonical = canonicalJson({
      v: 1,
      id: row!.id,
      seq: String(row!.seq),
      occurredAtMicros: row!.us,
      clientId: row!.client_id,
      clientType: row!.client_type,
      merchantId: row!.merchant_id,
      userId: row!.user_id,
      scopes: row!.scopes,
      action: row!.action,
      resourceType: row!.resource_type,
      resourceId: row!.resource_id,
      outcome: row!.outcome,
      problemCode: row!.problem_code,
      httpStatus: row!.http_status,
      ip: row!.ip,
      requestId: row!.request_id,
      userAgent: row!.user_agent,
      purpose: row!.purpose,
      details: row!.details,
    });
    expect(
      createHash('sha256')
        .update(`${String(row!.prev_hash)}\n${canonical}`)
        .digest('hex'),
    ).toBe(row!.hash);

    const report = await verify();
    expect(report).toMatchObject({ ok: true, firstBrokenEvent: null, brokenEventCount: 0, eventsChecked: chain.length });
    expect(report.headSeq).toBe(String(chain.length));
  });

  it('seals again only what is new, continuing the chain, and two sealers at once never fork it', async () => {
    const before = await sealed();
    for (let index = 0; index < 300; index += 1)
      await audit.record({
        actor: null,
        action: 'test.chain.burst',
        resourceType: 'test',
        resourceId: `burst-${index}`,
        outcome: 'success',
      });
    const counts = await Promise.all([sealer.sealPending(), sealer.sealPending(), sealer.sealPending({ wait: false })]);
    // The verification above wrote an event too: at least 300 new, sealed once between the three.
    expect(counts.reduce((sum, count) => sum + count, 0)).toBeGreaterThanOrEqual(300);
    const after = await sealed();
    expect(after.slice(0, before.length)).toEqual(before);
    expect(after.map((row) => row.seq)).toEqual(after.map((_, index) => String(index + 1)));
    expect((await verify()).ok).toBe(true);
  });

  it('the database refuses changing or deleting a sealed event or its seal, and re-sealing one', async () => {
    await sealer.sealPending();
    const [first] = await sealed();
    await expect(t.dataSource.query(`UPDATE audit_events SET action = 'test.chain.forged' WHERE id = $1`, [first!.id])).rejects.toThrow(
      /audit_events is append-only/,
    );
    await expect(t.dataSource.query('UPDATE audit_seals SET hash = $2 WHERE event_id = $1', [first!.id, 'f'.repeat(64)])).rejects.toThrow(
      /audit_seals is append-only/,
    );
    await expect(t.dataSource.query('DELETE FROM audit_events WHERE id = $1', [first!.id])).rejects.toThrow(/audit_events is append-only/);
    await expect(t.dataSource.query('DELETE FROM audit_seals WHERE event_id = $1', [first!.id])).rejects.toThrow(
      /audit_seals is append-only/,
    );
    const head = (await sealed()).at(-1)!;
    await expect(
      t.dataSource.query('INSERT INTO audit_seals (seq, event_id, prev_hash, hash, sealed_at) VALUES ($1, $2, $3, $3, now())', [
        String(BigInt(head.seq) + 1n),
        first!.id,
        head.hash,
      ]),
    ).rejects.toMatchObject({ code: '23505', constraint: 'audit_seals_event_id_key' });
  });

  it('a changed event is found: the report names exactly that event, and no other', async () => {
    await sealer.sealPending();
    const chain = await sealed();
    const victim = chain.find((row) => row.action === 'test.chain.burst')!;
    await tamper(t, `UPDATE audit_events SET details = '{"forged": true}'::jsonb WHERE id = $1`, [victim.id]);
    const report = await verify();
    expect(report.ok).toBe(false);
    expect(report.firstBrokenEvent).toEqual({
      kind: 'HASH_MISMATCH',
      seq: victim.seq,
      eventId: victim.id,
      detail: expect.any(String),
    });
    expect(report.brokenEventCount).toBe(1);
    // Put it back (the test's own repair): the chain verifies again.
    await tamper(t, 'UPDATE audit_events SET details = NULL WHERE id = $1', [victim.id]);
    expect((await verify()).ok).toBe(true);
  });

  it('a time changed by one microsecond, a deleted seal and a deleted event are found where they are', async () => {
    await sealer.sealPending();
    const chain = await sealed();
    const moved = chain[3]!;
    await tamper(t, `UPDATE audit_events SET occurred_at = occurred_at + interval '1 microsecond' WHERE id = $1`, [moved.id]);
    const movedReport = await verify();
    expect(movedReport.firstBrokenEvent).toMatchObject({ kind: 'HASH_MISMATCH', seq: moved.seq, eventId: moved.id });
    expect(movedReport.brokenEventCount).toBe(1);
    await tamper(t, `UPDATE audit_events SET occurred_at = occurred_at - interval '1 microsecond' WHERE id = $1`, [moved.id]);

    // A seal deleted: the gap and the broken link are both at the next seal; nothing else is broken. Its
    // event (written before the head's) is not sealed again.
    const unsealed = chain[10]!;
    const next = chain[11]!;
    const [seal] = (await t.dataSource.query('SELECT * FROM audit_seals WHERE seq = $1', [unsealed.seq])) as Record<string, unknown>[];
    await tamper(t, 'DELETE FROM audit_seals WHERE seq = $1', [unsealed.seq]);
    await sealer.sealPending();
    const gap = await verify();
    expect(gap.firstBrokenEvent).toMatchObject({ kind: 'SEQ_GAP', seq: next.seq, eventId: next.id });
    expect(gap.brokenEventCount).toBe(2);
    expect((await sealed()).some((row) => row.id === unsealed.id)).toBe(false);
    // Put it back (a seal is inserted like any other): the chain verifies again.
    await t.dataSource.query('INSERT INTO audit_seals (seq, event_id, prev_hash, hash, sealed_at) VALUES ($1, $2, $3, $4, $5)', [
      seal!.seq,
      seal!.event_id,
      seal!.prev_hash,
      seal!.hash,
      seal!.sealed_at,
    ]);
    expect((await verify()).ok).toBe(true);

    // An event deleted, its seal left: that seal, and nothing else, is named.
    const deleted = chain[12]!;
    await tamper(t, 'DELETE FROM audit_events WHERE id = $1', [deleted.id]);
    const report = await verify();
    expect(report.firstBrokenEvent).toMatchObject({ kind: 'EVENT_MISSING', seq: deleted.seq, eventId: deleted.id });
    expect(report.brokenEventCount).toBe(1);
  });

  it('only audit:read reaches the audit routes', async () => {
    expect((await t.http().get('/v1/audit/events')).status).toBe(401);
    expect((await t.http().post('/v1/audit/verifications')).status).toBe(401);
    const forbidden = await t.http().get('/v1/audit/events').auth(platformToken, { type: 'bearer' });
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers['www-authenticate']).toMatch(/insufficient_scope/);
    expect((await t.http().post('/v1/audit/verifications').auth(platformToken, { type: 'bearer' })).status).toBe(403);
  });
});

describe('the audit events API', () => {
  let t: TestApp;
  let token: string;
  let clientId: string;
  const clock = new ManualClock('2026-04-01T00:00:00.000Z');

  beforeAll(async () => {
    t = await startTestApp({ clock });
    const compliance = await createConfidentialClient(t, 'compliance', null);
    clientId = compliance.clientId;
    token = await clientCredentialsToken(t, compliance.clientId, compliance.clientSecret, 'audit:read');
    const audit = t.app.get(AuditService);
    const userA = '0193e0a4-7c1b-7000-8000-00000000000a';
    const userB = '0193e0a4-7c1b-7000-8000-00000000000b';
    for (let index = 0; index < 25; index += 1) {
      clock.advance(60_000);
      await audit.record({
        actor: { userId: index % 2 === 0 ? userA : userB },
        action: index % 3 === 0 ? 'test.widget.read' : 'test.widget.changed',
        resourceType: 'widget',
        resourceId: `w-${index % 5}`,
        outcome: index % 4 === 0 ? 'failure' : 'success',
        problemCode: index % 4 === 0 ? 'WIDGET_BROKEN' : null,
        purpose: index % 3 === 0 ? 'compliance.review' : null,
      });
    }
  });

  afterAll(async () => {
    await t?.close();
  });

  const get = (query: Record<string, string>) => t.http().get('/v1/audit/events').query(query).auth(token, { type: 'bearer' });

  it('filters by actor, action (exact or a family), resource, outcome and time, newest first, in pages that neither skip nor repeat', async () => {
    const expected: { id: string }[] = await t.dataSource.query(
      `SELECT id FROM audit_events WHERE user_id = '0193e0a4-7c1b-7000-8000-00000000000a' AND action LIKE 'test.widget.%'
        ORDER BY occurred_at DESC, id DESC`,
    );
    expect(expected).toHaveLength(13);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const response = await get({
        userId: '0193E0A4-7C1B-7000-8000-00000000000A',
        action: 'test.widget.',
        limit: '4',
        ...(cursor ? { cursor } : {}),
      });
      expect(response.status).toBe(200);
      seen.push(...(response.body.data as { id: string }[]).map((event) => event.id));
      cursor = response.body.nextCursor as string | null;
    } while (cursor !== null);
    expect(seen).toEqual(expected.map((row) => row.id));

    const reads = await get({ action: 'test.widget.read', resourceType: 'widget', resourceId: 'w-0', limit: '100' });
    // index 0 and 15 are reads of w-0.
    expect(reads.body.data).toHaveLength(2);
    expect(reads.body.data[0]).toMatchObject({
      action: 'test.widget.read',
      resource: { type: 'widget', id: 'w-0' },
      purpose: 'compliance.review',
      actor: { userId: '0193e0a4-7c1b-7000-8000-00000000000b', clientId: null, scopes: [] },
    });
    const failures = await get({ outcome: 'failure', action: 'test.widget.', limit: '100' });
    expect((failures.body.data as { problemCode: string }[]).map((event) => event.problemCode)).toEqual(Array(7).fill('WIDGET_BROKEN'));
    // Events 0..24 are at minute 1..25: [minute 5, minute 10) holds events 4..8.
    const window = await get({ from: '2026-04-01T00:05:00.000Z', to: '2026-04-01T00:10:00.000Z', action: 'test.', limit: '100' });
    expect((window.body.data as { resource: { id: string } }[]).map((event) => event.resource.id)).toEqual([
      'w-3',
      'w-2',
      'w-1',
      'w-0',
      'w-4',
    ]);
  });

  it('shows the seal once the event is sealed, and records every read of the trail', async () => {
    await t.app.get(AuditSealer).sealPending();
    const response = await get({ action: 'test.widget.changed', limit: '1' });
    expect(response.body.data[0].seal).toEqual({
      seq: expect.stringMatching(/^[0-9]+$/),
      prevHash: expect.stringMatching(/^[0-9a-f]{64}$/),
      hash: expect.stringMatching(/^[0-9a-f]{64}$/),
      sealedAt: expect.any(String),
    });
    const reads: { client_id: string; details: Record<string, unknown> }[] = await t.dataSource.query(
      `SELECT client_id, details FROM audit_events WHERE action = 'audit.events.read' ORDER BY occurred_at, id`,
    );
    // One a request of this file so far: 4 pages + 3 + this one.
    expect(reads).toHaveLength(8);
    expect(reads.every((row) => row.client_id === clientId)).toBe(true);
    expect(reads.at(-1)!.details).toMatchObject({ action: 'test.widget.changed', returned: 1 });
  });

  it('refuses a bad filter or a foreign cursor as a problem document', async () => {
    expect((await get({ action: 'Not An Action' })).status).toBe(400);
    expect((await get({ userId: 'nobody' })).status).toBe(400);
    const foreign = await get({ cursor: Buffer.from(JSON.stringify(['abc', 'def'])).toString('base64url') });
    expect(foreign.status).toBe(400);
    expect(foreign.body.code).toBe('INVALID_CURSOR');
  });
});

describe('audit retention', () => {
  let t: TestApp;
  const clock = new ManualClock('2026-01-01T00:00:00.000Z');

  beforeAll(async () => {
    t = await startTestApp({ clock, env: { AUDIT_SEAL_INTERVAL_MS: '0', AUDIT_RETENTION_DAYS: '30' } });
  });

  afterAll(async () => {
    await t?.close();
  });

  it('purges whole prefixes of the chain older than the retention, on record, and what is left still verifies from the purge', async () => {
    const audit = t.app.get(AuditService);
    const sealer = t.app.get(AuditSealer);
    for (let day = 0; day < 40; day += 1) {
      await audit.record({ actor: null, action: 'test.day.passed', resourceType: 'test', resourceId: `day-${day}`, outcome: 'success' });
      clock.advance(86_400_000);
    }
    // Now is day 40: events of days 0..9 are older than 30 days.
    await sealer.sealPending();
    // Days 0..9, and whatever the start-up recorded on day 0 (the console client's creation).
    const counted = (await t.dataSource.query(
      `SELECT count(*)::int AS old FROM audit_events WHERE occurred_at < '2026-01-11T00:00:00.000Z'`,
    )) as { old: number }[];
    const old = counted[0]!.old;
    expect(old).toBeGreaterThanOrEqual(10);
    const deleted = await sealer.purgeExpired();
    expect(deleted).toBe(old);
    const left: { resource_id: string }[] = await t.dataSource.query(
      `SELECT e.resource_id FROM audit_events e JOIN audit_seals s ON s.event_id = e.id WHERE e.action = 'test.day.passed' ORDER BY s.seq`,
    );
    expect(left[0]!.resource_id).toBe('day-10');
    const [purge] = (await t.dataSource.query('SELECT through_seq::text AS through_seq, events_purged::int AS n FROM audit_purges')) as {
      through_seq: string;
      n: number;
    }[];
    expect(purge).toEqual({ through_seq: String(old), n: old });
    // Their seals went with them; every event left is still sealed (but the purge's own, just written).
    const [seals] = (await t.dataSource.query(
      `SELECT min(seq)::text AS first,
              (SELECT count(*)::int FROM audit_events e
                WHERE e.action <> 'audit.events.purged' AND NOT EXISTS (SELECT 1 FROM audit_seals s WHERE s.event_id = e.id)) AS unsealed
         FROM audit_seals`,
    )) as { first: string; unsealed: number }[];
    expect(seals).toMatchObject({ first: String(old + 1), unsealed: 0 });
    await sealer.sealPending();
    const report = await t.app.get((await import('../../src/audit/audit-verifier.js')).AuditVerifier).verify();
    expect(report).toMatchObject({ ok: true, startsAfterSeq: String(old), brokenEventCount: 0 });
    const purged: { details: Record<string, unknown> }[] = await t.dataSource.query(
      `SELECT details FROM audit_events WHERE action = 'audit.events.purged'`,
    );
    expect(purged).toEqual([{ details: expect.objectContaining({ throughSeq: String(old), eventsPurged: old, retentionDays: 30 }) }]);
    // Nothing purges an event the purge record does not cover, nor the purge record itself.
    await expect(t.dataSource.query(`DELETE FROM audit_events WHERE resource_id = 'day-11'`)).rejects.toThrow(/append-only/);
    await expect(t.dataSource.query('DELETE FROM audit_seals WHERE seq = $1', [String(old + 1)])).rejects.toThrow(/append-only/);
    await expect(t.dataSource.query('DELETE FROM audit_purges')).rejects.toThrow(/append-only/);
    // Nor a seal the purge covers while its event is still there (a seal written around the sealer, for an event not yet sealed).
    const [unsealed] = (await t.dataSource.query(
      `INSERT INTO audit_events (id, occurred_at, action, resource_type, outcome) VALUES (gen_random_uuid(), now(), 'test.day.passed', 'test', 'success')
       RETURNING id`,
    )) as { id: string }[];
    await t.dataSource.query(`INSERT INTO audit_seals (seq, event_id, prev_hash, hash, sealed_at) VALUES (1, $1, $2, $2, now())`, [
      unsealed!.id,
      '0'.repeat(64),
    ]);
    await expect(t.dataSource.query('DELETE FROM audit_seals WHERE seq = 1')).rejects.toThrow(/audit_seals is append-only: DELETE refused/);
    await expect(
      t.dataSource.query(
        `INSERT INTO audit_purges (number, through_seq, through_hash, events_purged, cutoff, purged_at) VALUES (2, 5, $1, 0, now(), now())`,
        ['a'.repeat(64)],
      ),
    ).rejects.toThrow(/beyond the previous one/);
    // A second purge at the same time finds nothing more to do.
    expect(await sealer.purgeExpired()).toBe(0);
  });
});
