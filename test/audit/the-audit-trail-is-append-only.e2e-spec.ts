import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, HttpCode, Module, Post } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { AuditModule } from '../../src/audit/audit.module.js';
import { Public } from '../../src/oauth/access.decorators.js';
import { AuditService } from '../../src/audit/audit.service.js';
import { auditDetailsBytes, type AuditEventInput, validateAuditEvent } from '../../src/audit/audit-event.js';
import { ManualClock } from '../../src/common/clock/clock.js';
import type { Principal } from '../../src/common/principal.js';
import { runWithRequestContext } from '../../src/common/request-context/request-context.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const MERCHANT_ID = '0193e0a4-7c1b-7000-8000-0000000000aa';
const USER_ID = '0193e0a4-7c1b-7000-8000-000000000001';
const ZEROS = '0'.repeat(64);

const principal: Principal = {
  clientId: 'bike-rental-mini',
  clientType: 'mini_program',
  merchantId: MERCHANT_ID,
  userId: USER_ID,
  scopes: ['identity:verify', 'credit:score'],
};

/** A test-only route that records an event while serving a request, as a module's controller would. */
@Controller('test/audit')
@Public()
class AuditProbeController {
  constructor(private readonly audit: AuditService) {}

  @Post('events')
  @HttpCode(201)
  async record(): Promise<{ id: string }> {
    return { id: await this.audit.record({ action: 'test.probe.recorded', actor: null, resourceType: 'probe', outcome: 'success' }) };
  }
}

@Module({ imports: [AuditModule], controllers: [AuditProbeController] })
class AuditProbeModule {}

describe('the audit trail is append-only', () => {
  let t: TestApp;
  let audit: AuditService;
  const clock = new ManualClock('2026-03-01T08:00:00.000Z');

  /** An event of its own resource id, so that each test finds exactly its rows. */
  const event = (overrides: Partial<AuditEventInput> = {}): AuditEventInput => ({
    action: 'oauth.consent.granted',
    actor: principal,
    resourceType: 'oauth_grant',
    resourceId: `grant-${randomUUID()}`,
    outcome: 'success',
    ...overrides,
  });

  const rowsOf = (resourceId: string | null | undefined): Promise<Record<string, unknown>[]> =>
    t.dataSource.query('SELECT * FROM audit_events WHERE resource_id = $1 ORDER BY id', [resourceId]);

  const rowText = async (id: string): Promise<string> => {
    const rows: { row: string }[] = await t.dataSource.query('SELECT to_jsonb(a)::text AS row FROM audit_events a WHERE id = $1', [id]);
    expect(rows).toHaveLength(1);
    return rows[0]?.row ?? '';
  };

  /** What the database says when it refuses a change to the trail. */
  const refusedByTheTrail = (operation: string) => ({
    code: '23001',
    message: expect.stringContaining(`audit_events is append-only: ${operation} refused`),
  });

  beforeAll(async () => {
    t = await startTestApp({ clock, extraModules: [AuditProbeModule], env: { AUDIT_SEAL_INTERVAL_MS: '0' } });
    audit = t.app.get(AuditService);
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('recording', () => {
    it('writes one row with every field, at the injected clock’s time, under a UUIDv7, unsealed', async () => {
      const input = event({
        outcome: 'failure',
        problemCode: 'CONSENT_DENIED',
        httpStatus: 403,
        purpose: 'waiver.decision',
        details: { scopes: ['credit:score'], attempt: 2, remembered: false, parent: null, nested: { tier: 650 } },
        ip: '2001:db8::7',
        requestId: 'req-explicit',
        userAgent: 'MiniProgram/8.0',
      });
      const id = await audit.record(input);
      expect(id).toMatch(UUID_V7);
      const rows = await rowsOf(input.resourceId);
      expect(rows).toEqual([
        {
          id,
          occurred_at: new Date('2026-03-01T08:00:00.000Z'),
          client_id: 'bike-rental-mini',
          client_type: 'mini_program',
          merchant_id: MERCHANT_ID,
          user_id: USER_ID,
          scopes: ['identity:verify', 'credit:score'],
          action: 'oauth.consent.granted',
          resource_type: 'oauth_grant',
          resource_id: input.resourceId,
          outcome: 'failure',
          problem_code: 'CONSENT_DENIED',
          http_status: 403,
          ip: '2001:db8::7',
          request_id: 'req-explicit',
          user_agent: 'MiniProgram/8.0',
          purpose: 'waiver.decision',
          details: { scopes: ['credit:score'], attempt: 2, remembered: false, parent: null, nested: { tier: 650 } },
          xid: expect.stringMatching(/^[1-9][0-9]*$/),
        },
      ]);
      expect(await t.dataSource.query('SELECT seq FROM audit_seals WHERE event_id = $1', [id])).toEqual([]);
    });

    it('records a sign-in that knows only the user, and one that knows nobody', async () => {
      const resourceId = `sign-in-${randomUUID()}`;
      await audit.record(event({ action: 'oauth.sign_in.succeeded', actor: { userId: USER_ID }, resourceType: 'user', resourceId }));
      clock.advance(1);
      await audit.record(
        event({
          action: 'oauth.sign_in.failed',
          actor: null,
          resourceType: 'user',
          resourceId,
          outcome: 'failure',
          problemCode: 'INVALID_CREDENTIALS',
        }),
      );
      const rows = await rowsOf(resourceId);
      expect(
        rows.map((row) => [row.action, row.user_id, row.client_id, row.client_type, row.merchant_id, row.scopes, row.problem_code]),
      ).toEqual([
        ['oauth.sign_in.succeeded', USER_ID, null, null, null, [], null],
        ['oauth.sign_in.failed', null, null, null, null, [], 'INVALID_CREDENTIALS'],
      ]);
    });

    it('writes nothing for an event it refuses, and says why without echoing the value', async () => {
      const input = event({ details: { reason: 'reset', newPassword: 'hunter2' } });
      await expect(audit.record(input)).rejects.toThrow(
        'audit event: details.newPassword is a key for personal data or a secret, which an audit event never holds',
      );
      await expect(audit.record(event({ action: 'User.Signed Up' }))).rejects.toThrow(/^audit event: action must match/);
      expect(await rowsOf(input.resourceId)).toEqual([]);
    });

    it('keeps every one of many events recorded at once', async () => {
      const resourceId = `burst-${randomUUID()}`;
      const ids = await Promise.all(Array.from({ length: 25 }, () => audit.record(event({ resourceId }))));
      expect(new Set(ids).size).toBe(25);
      const rows = await rowsOf(resourceId);
      expect(rows.map((row) => row.id).sort()).toEqual([...ids].sort());
    });
  });

  describe('where from: the request context', () => {
    it('takes request id, IP address and user agent from the ambient context', async () => {
      const input = event();
      await runWithRequestContext({ requestId: 'req-ambient-1', ip: '203.0.113.7', userAgent: 'MiniProgram/8.0 (iPhone)' }, () =>
        audit.record(input),
      );
      const [row] = await rowsOf(input.resourceId);
      expect(row).toMatchObject({ request_id: 'req-ambient-1', ip: '203.0.113.7', user_agent: 'MiniProgram/8.0 (iPhone)' });
    });

    it('keeps what the caller gave, or its null, over the context', async () => {
      const given = event({ requestId: 'req-given', ip: '198.51.100.9', userAgent: 'curl/8' });
      const unknown = event({ requestId: null, ip: null, userAgent: null });
      await runWithRequestContext({ requestId: 'req-ambient-2', ip: '203.0.113.7', userAgent: 'MiniProgram/8.0' }, async () => {
        await audit.record(given);
        await audit.record(unknown);
      });
      expect((await rowsOf(given.resourceId))[0]).toMatchObject({ request_id: 'req-given', ip: '198.51.100.9', user_agent: 'curl/8' });
      expect((await rowsOf(unknown.resourceId))[0]).toMatchObject({ request_id: null, ip: null, user_agent: null });
    });

    it('records nothing of where from outside a request', async () => {
      const input = event();
      await audit.record(input);
      expect((await rowsOf(input.resourceId))[0]).toMatchObject({ request_id: null, ip: null, user_agent: null });
    });

    it('inside a real HTTP request, records the X-Request-Id, the client address and the User-Agent', async () => {
      const requestId = `req-http-${randomUUID()}`;
      const response = await t
        .http()
        .post('/test/audit/events')
        .set('X-Request-Id', requestId)
        .set('User-Agent', 'AuditProbe/1.0')
        .send({});
      expect(response.status).toBe(201);
      const rows: Record<string, unknown>[] = await t.dataSource.query(
        'SELECT id, request_id, host(ip) AS ip, user_agent FROM audit_events WHERE request_id = $1',
        [requestId],
      );
      expect(rows).toEqual([{ id: response.body.id, request_id: requestId, ip: '127.0.0.1', user_agent: 'AuditProbe/1.0' }]);
    });
  });

  describe('in the caller’s transaction', () => {
    it('commits with the change it records', async () => {
      const input = event();
      const id = await t.dataSource.transaction((manager) => audit.record(input, manager));
      expect((await rowsOf(input.resourceId)).map((row) => row.id)).toEqual([id]);
    });

    it('rolls back with it: a failed change leaves no event', async () => {
      const input = event();
      await expect(
        t.dataSource.transaction(async (manager) => {
          await audit.record(input, manager);
          const inside: { n: number }[] = await manager.query('SELECT count(*)::int AS n FROM audit_events WHERE resource_id = $1', [
            input.resourceId,
          ]);
          expect(inside[0]?.n).toBe(1);
          throw new Error('the change it recorded failed');
        }),
      ).rejects.toThrow('the change it recorded failed');
      expect(await rowsOf(input.resourceId)).toEqual([]);
    });
  });

  describe('what the database refuses', () => {
    let id: string;
    let before: string;

    beforeAll(async () => {
      id = await audit.record(event({ details: { attempt: 1 }, requestId: 'req-1', ip: '203.0.113.7', userAgent: 'ua', purpose: 'p' }));
      before = await rowText(id);
    });

    /** A new value for every column (each of its own type). */
    const changes: Record<string, string> = {
      id: 'gen_random_uuid()',
      occurred_at: "occurred_at + interval '1 second'",
      client_id: "'someone-else'",
      client_type: "'platform'",
      merchant_id: 'gen_random_uuid()',
      user_id: 'gen_random_uuid()',
      scopes: "'{admin}'",
      action: "'oauth.consent.denied'",
      resource_type: "'merchant'",
      resource_id: "'another'",
      outcome: "'failure'",
      problem_code: "'FORGED'",
      http_status: '500',
      ip: "'198.51.100.1'",
      request_id: "'req-forged'",
      user_agent: "'forged'",
      purpose: "'forged'",
      details: `'{"attempt": 2}'`,
      xid: "'5'",
    };

    it('(the list below changes every column the table has)', async () => {
      const columns: { column_name: string }[] = await t.dataSource.query(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'audit_events' AND table_schema = current_schema()",
      );
      expect(columns.map((column) => column.column_name).sort()).toEqual(Object.keys(changes).sort());
    });

    it.each(Object.entries(changes))('refuses an UPDATE of %s', async (column, value) => {
      await expect(t.dataSource.query(`UPDATE audit_events SET ${column} = ${value} WHERE id = $1`, [id])).rejects.toMatchObject(
        refusedByTheTrail('UPDATE'),
      );
      expect(await rowText(id)).toBe(before);
    });

    it('refuses an UPDATE that changes nothing', async () => {
      await expect(t.dataSource.query('UPDATE audit_events SET action = action WHERE id = $1', [id])).rejects.toMatchObject(
        refusedByTheTrail('UPDATE'),
      );
    });

    it('refuses a DELETE of one event and of all of them', async () => {
      await expect(t.dataSource.query('DELETE FROM audit_events WHERE id = $1', [id])).rejects.toMatchObject(refusedByTheTrail('DELETE'));
      await expect(t.dataSource.query('DELETE FROM audit_events')).rejects.toMatchObject(refusedByTheTrail('DELETE'));
      expect(await rowText(id)).toBe(before);
    });

    it('refuses TRUNCATE', async () => {
      const count = async (): Promise<number> =>
        ((await t.dataSource.query('SELECT count(*)::int AS n FROM audit_events')) as { n: number }[])[0]?.n ?? -1;
      const events = await count();
      expect(events).toBeGreaterThan(0);
      await expect(t.dataSource.query('TRUNCATE audit_events')).rejects.toMatchObject(refusedByTheTrail('TRUNCATE'));
      expect(await count()).toBe(events);
    });

    it('has no seal columns left to update: an event is sealed in audit_seals', async () => {
      await expect(
        t.dataSource.query('UPDATE audit_events SET seq = 1, prev_hash = $2, hash = $2, sealed_at = now() WHERE id = $1', [id, ZEROS]),
      ).rejects.toMatchObject({ code: '42703' });
      expect(await rowText(id)).toBe(before);
    });

    it('sets an event’s xid to the writing transaction’s own, whatever the writer sends', async () => {
      const written = randomUUID();
      const [row] = await t.dataSource.transaction(async (manager): Promise<{ xid: string; mine: string }[]> => {
        await manager.query(
          `INSERT INTO audit_events (id, occurred_at, action, resource_type, outcome, xid) VALUES ($1, now(), 'user.signed_up', 'user', 'success', '5')`,
          [written],
        );
        return manager.query('SELECT xid::text AS xid, pg_current_xact_id()::text AS mine FROM audit_events WHERE id = $1', [written]);
      });
      expect(row?.xid).not.toBe('5');
      expect(row?.xid).toBe(row?.mine);
    });

    it.each<[string, string, string]>([
      ['an action that breaks the naming rule', 'action', 'Signed Up'],
      ['an outcome that is neither', 'outcome', 'maybe'],
      ['a resource id of 256 characters', 'resource_id', 'x'.repeat(256)],
      ['a user agent of 257 characters', 'user_agent', 'u'.repeat(257)],
      ['scopes with a space in one', 'scopes', '{"credit:score","a b"}'],
      ['a problem code on a success', 'problem_code', 'FORGED'],
      ['details that are not an object', 'details', '[1, 2]'],
      ['details over 8 KiB as stored', 'details', JSON.stringify({ note: 'x'.repeat(8192) })],
    ])('checks its own bounds too: refuses %s written around the service', async (_what, column, value) => {
      const columns = ['id', 'occurred_at', 'action', 'resource_type', 'outcome'];
      const values: unknown[] = [randomUUID(), new Date(), 'user.signed_up', 'user', 'success'];
      const at = columns.indexOf(column);
      if (at === -1) {
        columns.push(column);
        values.push(value);
      } else {
        values[at] = value;
      }
      const sql = `INSERT INTO audit_events (${columns.join(', ')}) VALUES (${columns.map((_, index) => `$${index + 1}`).join(', ')})`;
      const constraint = column === 'problem_code' ? 'audit_events_problem_code_only_on_failure' : `audit_events_${column}_check`;
      await expect(t.dataSource.query(sql, values)).rejects.toMatchObject({ code: '23514', constraint });
    });
  });

  describe('the seals: inserted, never changed, deleted only through a purge', () => {
    const A = 'a'.repeat(64);
    const sealedAt = new Date('2026-03-01T08:00:05.000Z');
    const refusedBySeals = (operation: string) => ({
      code: '23001',
      message: expect.stringContaining(`audit_seals is append-only: ${operation} refused`),
    });
    const seal = (seq: number, eventId: string, hash = A) =>
      t.dataSource.query('INSERT INTO audit_seals (seq, event_id, prev_hash, hash, sealed_at) VALUES ($1, $2, $3, $4, $5)', [
        seq,
        eventId,
        ZEROS,
        hash,
        sealedAt,
      ]);
    const sealText = async (seq: number): Promise<string> => {
      const rows: { row: string }[] = await t.dataSource.query('SELECT to_jsonb(s)::text AS row FROM audit_seals s WHERE seq = $1', [seq]);
      expect(rows).toHaveLength(1);
      return rows[0]?.row ?? '';
    };

    let id: string;
    let before: string;

    beforeAll(async () => {
      // No sealer runs in this file: seqs from 100 on are this section's own.
      id = await audit.record(event());
      await seal(100, id);
      before = await sealText(100);
    });

    it('takes a seal with every column, and the event itself is not changed by it', async () => {
      const [row] = (await t.dataSource.query(
        'SELECT seq, event_id, prev_hash, hash, sealed_at FROM audit_seals WHERE seq = 100',
      )) as Record<string, unknown>[];
      expect(row).toEqual({ seq: '100', event_id: id, prev_hash: ZEROS, hash: A, sealed_at: sealedAt });
      const [sealedEvent] = (await t.dataSource.query(
        'SELECT e.id, s.seq FROM audit_events e JOIN audit_seals s ON s.event_id = e.id WHERE e.id = $1',
        [id],
      )) as Record<string, unknown>[];
      expect(sealedEvent).toEqual({ id, seq: '100' });
    });

    it('refuses a second seal of an event, a second event at a seq, and a malformed hash', async () => {
      await expect(seal(101, id)).rejects.toMatchObject({ code: '23505', constraint: 'audit_seals_event_id_key' });
      await expect(seal(100, await audit.record(event()))).rejects.toMatchObject({ code: '23505', constraint: 'audit_seals_pkey' });
      await expect(seal(102, await audit.record(event()), 'A'.repeat(64))).rejects.toMatchObject({
        code: '23514',
        constraint: 'audit_seals_hash_check',
      });
    });

    it.each<[string, string]>([
      ['seq', '101'],
      ['event_id', 'gen_random_uuid()'],
      ['prev_hash', `'${'b'.repeat(64)}'`],
      ['hash', `'${'c'.repeat(64)}'`],
      ['sealed_at', 'now()'],
    ])('refuses an UPDATE of %s', async (column, value) => {
      await expect(t.dataSource.query(`UPDATE audit_seals SET ${column} = ${value} WHERE seq = 100`)).rejects.toMatchObject(
        refusedBySeals('UPDATE'),
      );
      expect(await sealText(100)).toBe(before);
    });

    it('refuses a DELETE of one seal and of all of them, and TRUNCATE', async () => {
      await expect(t.dataSource.query('DELETE FROM audit_seals WHERE seq = 100')).rejects.toMatchObject(refusedBySeals('DELETE'));
      await expect(t.dataSource.query('DELETE FROM audit_seals')).rejects.toMatchObject(refusedBySeals('DELETE'));
      await expect(t.dataSource.query('TRUNCATE audit_seals')).rejects.toMatchObject(refusedBySeals('TRUNCATE'));
      expect(await sealText(100)).toBe(before);
    });

    it('deletes through a purge only: the event first, then its seal, and nothing the purge does not cover', async () => {
      const purged = await audit.record(event());
      await seal(1, purged, 'd'.repeat(64));
      // Before any purge record, neither goes.
      await expect(t.dataSource.query('DELETE FROM audit_events WHERE id = $1', [purged])).rejects.toMatchObject(
        refusedByTheTrail('DELETE'),
      );
      await t.dataSource.query(
        `INSERT INTO audit_purges (number, through_seq, through_hash, events_purged, cutoff, purged_at) VALUES (1, 1, $1, 1, now(), now())`,
        ['d'.repeat(64)],
      );
      // The seal stays while its event is there: an event is never left without its seal.
      await expect(t.dataSource.query('DELETE FROM audit_seals WHERE seq = 1')).rejects.toMatchObject(refusedBySeals('DELETE'));
      expect(await t.dataSource.query('DELETE FROM audit_events WHERE id = $1', [purged])).toEqual([[], 1]);
      expect(await t.dataSource.query('DELETE FROM audit_seals WHERE seq = 1')).toEqual([[], 1]);
      // Beyond the purge, nothing.
      await expect(t.dataSource.query('DELETE FROM audit_events WHERE id = $1', [id])).rejects.toMatchObject(refusedByTheTrail('DELETE'));
      await expect(t.dataSource.query('DELETE FROM audit_seals WHERE seq = 100')).rejects.toMatchObject(refusedBySeals('DELETE'));
    });
  });

  describe('the size limit on details', () => {
    /** Details of exactly `bytes` bytes as stored. */
    const ofSize = (bytes: number) => ({ note: 'x'.repeat(bytes - '{"note": ""}'.length) });

    it('is the one the database checks: 8192 bytes is written, 8193 refused before it is sent', async () => {
      const input = event({ details: ofSize(8192) });
      await audit.record(input);
      const rows: { bytes: number }[] = await t.dataSource.query(
        'SELECT octet_length(details::text) AS bytes FROM audit_events WHERE resource_id = $1',
        [input.resourceId],
      );
      expect(rows).toEqual([{ bytes: 8192 }]);
      await expect(audit.record(event({ details: ofSize(8193) }))).rejects.toThrow(
        'audit event: details must be at most 8192 bytes as stored (are 8193)',
      );
    });

    it('is measured in code exactly as PostgreSQL measures the stored text, for any details', async () => {
      const key = fc.stringMatching(/^[a-z][a-zA-Z0-9_]{0,11}$/);
      const leaf = fc.oneof(
        fc.string({ unit: 'binary', maxLength: 40 }),
        fc.string({ unit: 'grapheme', maxLength: 20 }),
        fc.maxSafeInteger(),
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
      );
      const { tree } = fc.letrec((tie) => ({
        tree: fc.oneof(
          { depthSize: 'small' },
          leaf,
          fc.array(tie('tree'), { maxLength: 4 }),
          fc.dictionary(key, tie('tree'), { maxKeys: 4 }),
        ),
      }));
      const samples = fc.sample(fc.dictionary(key, tree, { minKeys: 1, maxKeys: 6 }), { numRuns: 200, seed: 20260301 });
      // Only what the rules admit (no forbidden key, no NUL, no e-mail-shaped string, small enough).
      const admitted = samples.filter((details) => {
        try {
          validateAuditEvent(event({ details }), undefined);
          return true;
        } catch {
          return false;
        }
      });
      expect(admitted.length).toBeGreaterThan(100);
      const resourceId = `sizes-${randomUUID()}`;
      const measured: number[] = [];
      for (const details of admitted) {
        measured.push(auditDetailsBytes(details));
        await audit.record(event({ resourceId, details }));
      }
      const stored: { bytes: number }[] = await t.dataSource.query(
        'SELECT octet_length(details::text) AS bytes FROM audit_events WHERE resource_id = $1 ORDER BY id',
        [resourceId],
      );
      expect(stored.map((row) => row.bytes)).toEqual(measured);
    });
  });
});
