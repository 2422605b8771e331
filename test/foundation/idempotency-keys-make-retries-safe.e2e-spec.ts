import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { ManualClock } from '../../src/common/clock/clock.js';
import { IdempotencyService } from '../../src/common/idempotency/idempotency.service.js';
import { probeExecutions, ProbeModule } from '../support/probe.module.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

describe('Idempotency-Key on routes that create or move something', () => {
  let t: TestApp;
  const clock = new ManualClock('2026-03-01T08:00:00.000Z');
  const thing = { name: 'bike deposit', amountMinor: 9900, currency: 'CNY' };
  const post = (key: string | undefined, body: object, client = 'merchant-a') => {
    const request = t.http().post('/test/probe/things').set('x-test-client', client);
    return key === undefined ? request.send(body) : request.set('Idempotency-Key', key).send(body);
  };

  beforeAll(async () => {
    t = await startTestApp({ extraModules: [ProbeModule], clock });
  });
  afterAll(async () => {
    await t.close();
  });
  beforeEach(() => {
    probeExecutions.count = 0;
    probeExecutions.serverFailuresLeft = 0;
  });

  it('replays the first response for the same key and body, running the handler once', async () => {
    const key = randomUUID();
    const first = await post(key, thing);
    expect(first.status).toBe(201);
    const second = await post(key, thing);
    expect(second.status).toBe(201);
    expect(second.body).toEqual(first.body);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(probeExecutions.count).toBe(1);
  });

  it('treats the same body with its keys in another order as the same request', async () => {
    const key = randomUUID();
    await post(key, { name: 'a', amountMinor: 1, currency: 'CNY' }).expect(201);
    const again = await post(key, { currency: 'CNY', amountMinor: 1, name: 'a' });
    expect(again.status).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(probeExecutions.count).toBe(1);
  });

  it('refuses the same key with a different body with 422 IDEMPOTENCY_KEY_REUSED', async () => {
    const key = randomUUID();
    await post(key, thing).expect(201);
    const reused = await post(key, { ...thing, amountMinor: 9901 });
    expect(reused.status).toBe(422);
    expect(reused.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(reused.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(probeExecutions.count).toBe(1);
  });

  it('refuses the same key on another route as a different request', async () => {
    const key = randomUUID();
    await post(key, thing).expect(201);
    const other = await t
      .http()
      .post('/test/probe/optional-key/1')
      .set('x-test-client', 'merchant-a')
      .set('Idempotency-Key', key)
      .send(thing);
    expect(other.status).toBe(422);
    expect(other.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('answers 409 to a duplicate sent while the first is still running', async () => {
    const key = randomUUID();
    const slow = { ...thing, delayMs: 600 };
    const first = post(key, slow).then((response) => response);
    await new Promise((resolve) => setTimeout(resolve, 150));
    const duplicate = await post(key, slow);
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.code).toBe('IDEMPOTENCY_REQUEST_IN_PROGRESS');
    expect(duplicate.headers['retry-after']).toBe('1');
    expect((await first).status).toBe(201);
    expect(probeExecutions.count).toBe(1);
  });

  it('runs exactly one of two identical requests sent at the same moment', async () => {
    const key = randomUUID();
    const body = { ...thing, delayMs: 300 };
    const responses = await Promise.all([post(key, body), post(key, body)]);
    const statuses = responses.map((response) => response.status).sort();
    expect(statuses).toEqual([201, 409]);
    expect(probeExecutions.count).toBe(1);
    const retry = await post(key, body);
    expect(retry.status).toBe(201);
    expect(retry.body).toEqual(responses.find((response) => response.status === 201)?.body);
  });

  it('runs exactly once under a burst of 20 identical concurrent requests', async () => {
    const key = randomUUID();
    const body = { ...thing, delayMs: 200 };
    const responses = await Promise.all(Array.from({ length: 20 }, () => post(key, body)));
    // One ran; the others came while it ran (409) or, on a slow machine, after it finished (a replay).
    const ran = responses.filter((response) => response.status === 201 && response.headers['idempotent-replayed'] === undefined);
    expect(ran).toHaveLength(1);
    for (const response of responses) {
      if (response === ran[0]) continue;
      if (response.status === 201) {
        expect(response.headers['idempotent-replayed']).toBe('true');
        expect(response.body).toEqual(ran[0]?.body);
      } else {
        expect(response.status).toBe(409);
      }
    }
    expect(responses.filter((response) => response.status === 409).length).toBeGreaterThan(0);
    expect(probeExecutions.count).toBe(1);
  });

  it('is 400 IDEMPOTENCY_KEY_REQUIRED when the header is missing on a route that needs it', async () => {
    const response = await post(undefined, thing);
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('IDEMPOTENCY_KEY_REQUIRED');
    expect(probeExecutions.count).toBe(0);
  });

  it('runs normally without a key where the key is optional', async () => {
    await t.http().post('/test/probe/optional-key/7').send({}).expect(200);
    await t.http().post('/test/probe/optional-key/7').send({}).expect(200);
    expect(probeExecutions.count).toBe(2);
  });

  it('refuses malformed keys with 400 IDEMPOTENCY_KEY_INVALID', async () => {
    for (const key of ['has space', 'x'.repeat(256), 'clé']) {
      const response = await post(key, thing);
      expect(response.status).toBe(400);
      expect(response.body.code).toBe('IDEMPOTENCY_KEY_INVALID');
    }
    expect(probeExecutions.count).toBe(0);
  });

  it('scopes keys to the client: two clients may use the same key for different requests', async () => {
    const key = randomUUID();
    const a = await post(key, thing, 'merchant-a');
    const b = await post(key, { ...thing, name: 'other' }, 'merchant-b');
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(a.body.clientId).toBe('merchant-a');
    expect(b.body.clientId).toBe('merchant-b');
    expect(probeExecutions.count).toBe(2);
  });

  it('lets a retry run after a server failure (5xx is not kept)', async () => {
    const key = randomUUID();
    probeExecutions.serverFailuresLeft = 1;
    const failed = await post(key, { ...thing, fail: 'server' });
    expect(failed.status).toBe(503);
    const retried = await post(key, { ...thing, fail: 'server' });
    expect(retried.status).toBe(201);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    expect(probeExecutions.count).toBe(2);
  });

  it('lets a retry run after a transient 409 from the handler', async () => {
    const key = randomUUID();
    await post(key, { ...thing, fail: 'conflict' }).expect(409);
    await post(key, { ...thing, fail: 'conflict' }).expect(409);
    expect(probeExecutions.count).toBe(2);
  });

  it('keeps and replays a final refusal (422) without running again', async () => {
    const key = randomUUID();
    const refused = await post(key, { ...thing, fail: 'final' });
    expect(refused.status).toBe(422);
    expect(refused.body.code).toBe('INVALID_AMOUNT');
    const replayed = await post(key, { ...thing, fail: 'final' });
    expect(replayed.status).toBe(422);
    expect(replayed.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(replayed.headers['idempotent-replayed']).toBe('true');
    expect(replayed.body).toEqual(refused.body);
    expect(probeExecutions.count).toBe(1);
  });

  it('keeps nothing for a request that failed validation, so the corrected request may use the key', async () => {
    const key = randomUUID();
    const invalid = await post(key, { ...thing, amountMinor: 1.5 });
    expect(invalid.status).toBe(400);
    expect(invalid.body.code).toBe('VALIDATION_FAILED');
    const corrected = await post(key, thing);
    expect(corrected.status).toBe(201);
    expect(corrected.headers['idempotent-replayed']).toBeUndefined();
    expect(probeExecutions.count).toBe(1);
  });

  it('lets a retry take over a key whose first attempt died, once the lock timeout has passed', async () => {
    const key = randomUUID();
    const keys = t.app.get(IdempotencyService);
    // A first attempt that claimed the key and never finished (its process was killed).
    const claim = await keys.claim({ clientId: 'merchant-a', key, method: 'POST', path: '/test/probe/things', body: thing });
    expect(claim.kind).toBe('proceed');
    await post(key, thing).expect(409);
    clock.advance(t.config.idempotency.lockTimeoutSeconds * 1000);
    const retried = await post(key, thing);
    expect(retried.status).toBe(201);
    expect(probeExecutions.count).toBe(1);
  });

  it('keeps keys for at least 24 hours, then purges them', async () => {
    const key = randomUUID();
    await post(key, thing).expect(201);
    clock.advance(24 * 3_600_000 - 1000);
    const keys = t.app.get(IdempotencyService);
    await keys.purgeExpired();
    const stillKept = await post(key, thing);
    expect(stillKept.headers['idempotent-replayed']).toBe('true');
    expect(probeExecutions.count).toBe(1);

    clock.advance(2000);
    const purged = await keys.purgeExpired();
    expect(purged).toBeGreaterThanOrEqual(1);
    const rows: unknown[] = await t.dataSource.query('SELECT 1 FROM idempotency_keys WHERE client_id = $1 AND key = $2', [
      'merchant-a',
      key,
    ]);
    expect(rows).toHaveLength(0);
    const fresh = await post(key, { ...thing, name: 'a new request' });
    expect(fresh.status).toBe(201);
    expect(probeExecutions.count).toBe(2);
  });
});
