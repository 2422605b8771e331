import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ManualClock } from '../../src/common/clock/clock.js';
import { baseScore } from '../../src/credit/credit-score.js';
import { CreditSignalsService } from '../../src/credit/credit-signals.js';
import { CreditService } from '../../src/credit/credit.service.js';
import {
  clientCredentialsToken,
  createConfidentialClient,
  createMerchant,
  createMiniProgram,
  expectProblem,
  type Fixture,
} from '../support/oauth.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { signedInUser, type SignedInUser } from '../support/users.js';

const BUREAU_KEY = 'credit-test-bureau-key-0123456789';

describe('credit scores and admittance answers: test users, verified identities, reuse, signals, audit and scopes', () => {
  let t: TestApp;
  let app: Fixture;
  const clock = new ManualClock(new Date());
  /** Debt the test signal source reports, by user id. */
  const debts = new Map<string, bigint>();

  beforeAll(async () => {
    t = await startTestApp({ clock, env: { CREDIT_BUREAU_KEY: BUREAU_KEY } });
    app = await createMiniProgram(t, await createMerchant(t));
    t.app.get(CreditSignalsService).register({
      name: 'test-debts',
      signalsFor: async (userId) => ({ outstandingDebtMinor: debts.get(userId) ?? 0n }),
    });
  });
  afterAll(async () => {
    await t.close();
  });

  const ALL = ['credit:score', 'credit:admittance', 'identity:verify'] as const;
  const get = (who: SignedInUser, path: string) => t.http().get(path).set('authorization', `Bearer ${who.token}`);

  it('admits score-650 at 650, not score-649, and answers N/A for score-na, never showing the score', async () => {
    const [at649, at650, none] = await Promise.all([
      signedInUser(t, app, 'score-649@test.invalid', [...ALL]),
      signedInUser(t, app, 'score-650@test.invalid', [...ALL]),
      signedInUser(t, app, 'score-na@test.invalid', [...ALL]),
    ]);
    const answers = await Promise.all([at649, at650, none].map((who) => get(who, '/v1/credit/admittance?threshold=650')));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200]);
    expect(answers.map((answer) => answer.body.admitted)).toEqual(['N', 'Y', 'N/A']);
    for (const answer of answers) {
      expect(Object.keys(answer.body as object).sort()).toEqual(['admitted', 'reportId']);
    }
    expect((await get(at649, '/v1/credit/admittance?threshold=649')).body.admitted).toBe('Y');

    const scores = await Promise.all([at649, at650, none].map((who) => get(who, '/v1/credit/score')));
    expect(scores.map((score) => [score.body.score, score.body.band])).toEqual([
      [649, '600-649'],
      [650, '650-699'],
      ['N/A', null],
    ]);
    // The admittance answers came from the same reports.
    expect(scores.map((score) => score.body.reportId)).toEqual(answers.map((answer) => answer.body.reportId));
  });

  it('has no score before the identity is verified, then a deterministic one whose factors add up', async () => {
    const lin = await signedInUser(t, app, `lin-${randomUUID()}@example.com`, [...ALL]);
    const before = await get(lin, '/v1/credit/score');
    expect(before.body).toMatchObject({ score: 'N/A', band: null, factors: [expect.objectContaining({ code: 'INSUFFICIENT_DATA' })] });
    expect((await get(lin, '/v1/credit/admittance?threshold=350')).body).toEqual({ admitted: 'N/A', reportId: before.body.reportId });

    const verified = await t
      .http()
      .post('/v1/identity/verifications')
      .set('authorization', `Bearer ${lin.token}`)
      .set('idempotency-key', randomUUID())
      .send({ fullName: '林一', idNumber: '440524188001010014' });
    expect(verified.status).toBe(201);

    const after = await get(lin, '/v1/credit/score');
    expect(after.body.reportId).not.toBe(before.body.reportId);
    const factors = after.body.factors as { code: string; effect: number }[];
    expect(factors.map((factor) => factor.code)).toEqual(['BASE', 'IDENTITY_VERIFIED']);
    expect(factors[0]?.effect).toBe(baseScore(lin.userId, BUREAU_KEY));
    expect(after.body.score).toBe(
      Math.min(
        950,
        factors.reduce((sum, factor) => sum + factor.effect, 0),
      ),
    );
    expect(after.body.band).toMatch(/^\d{3}-\d{3}$/);
    expect(Date.parse(after.body.asOf as string)).toBe(clock.now().getTime());
  });

  it('records every read for audit with its purpose and report, and never the score, in the trail or the logs', async () => {
    const score700 = await signedInUser(t, app, 'score-777@test.invalid', [...ALL]);
    const read = await get(score700, '/v1/credit/score?purpose=rental.deposit_waiver');
    expect(read.body.score).toBe(777);
    const admit = await get(score700, '/v1/credit/admittance?threshold=700');
    expect(admit.body).toEqual({ admitted: 'Y', reportId: read.body.reportId });
    const events: { action: string; purpose: string; resource_id: string; client_id: string; details: unknown }[] =
      await t.dataSource.query(
        `SELECT action, purpose, resource_id, client_id, details FROM audit_events WHERE user_id = $1 AND action LIKE 'credit.%' ORDER BY occurred_at, id`,
        [score700.userId],
      );
    expect(events).toEqual([
      {
        action: 'credit.score.read',
        purpose: 'rental.deposit_waiver',
        resource_id: read.body.reportId,
        client_id: app.clientId,
        details: null,
      },
      {
        action: 'credit.admittance.read',
        purpose: 'credit.admittance',
        resource_id: read.body.reportId,
        client_id: app.clientId,
        details: { threshold: 700, admitted: 'Y' },
      },
    ]);
    // 777 as a JSON value (a number, or a string), not as digits inside an id or a time.
    const asValue = /[:[,]\s*777\s*[,}\]]|"777"/;
    expect(JSON.stringify(events)).not.toMatch(asValue);
    expect(t.logLines.join('\n')).not.toMatch(asValue);
    expect(JSON.stringify({ score: 777 })).toMatch(asValue);
  });

  it('admits only user tokens holding the scope of each route, and checks the threshold', async () => {
    const scoreOnly = await signedInUser(t, app, `so-${randomUUID()}@example.com`, ['credit:score']);
    const admittanceOnly = await signedInUser(t, app, `ao-${randomUUID()}@example.com`, ['credit:admittance']);
    expectProblem(await get(scoreOnly, '/v1/credit/admittance?threshold=650'), 403, 'INSUFFICIENT_SCOPE');
    expectProblem(await get(admittanceOnly, '/v1/credit/score'), 403, 'INSUFFICIENT_SCOPE');
    for (const threshold of ['349', '951', '650.5', 'abc', '']) {
      expectProblem(await get(admittanceOnly, `/v1/credit/admittance?threshold=${threshold}`), 400, 'VALIDATION_FAILED');
    }
    expectProblem(await get(admittanceOnly, '/v1/credit/admittance'), 400, 'VALIDATION_FAILED');
    expectProblem(await get(admittanceOnly, '/v1/credit/admittance?threshold=650&purpose=Not%20A%20Code'), 400, 'VALIDATION_FAILED');
    const merchant = await createConfidentialClient(t, 'merchant', app.merchantId);
    const token = await clientCredentialsToken(t, merchant.clientId, merchant.clientSecret, 'merchant:read');
    expect((await t.http().get('/v1/credit/score').set('authorization', `Bearer ${token}`)).status).toBe(403);
    expect((await t.http().get('/v1/credit/admittance?threshold=650')).status).toBe(401);
  });
  // Last: it moves the clock a day on, past every access token's life.
  it('reuses a report for 24 hours unless a signal changes', async () => {
    const mei = await signedInUser(t, app, `mei-${randomUUID()}@example.com`, [...ALL]);
    // A valid number for mei: computed, so the check character is right.
    const { checkCharacter } = await import('../../src/identity/resident-id-number.js');
    const first17 = '31010119800101123';
    const ok = await t
      .http()
      .post('/v1/identity/verifications')
      .set('authorization', `Bearer ${mei.token}`)
      .set('idempotency-key', randomUUID())
      .send({ fullName: '梅二', idNumber: `${first17}${checkCharacter(first17)}` });
    expect(ok.status).toBe(201);

    const first = await get(mei, '/v1/credit/score');
    clock.advance(60_000);
    const again = await get(mei, '/v1/credit/score');
    expect(again.body.reportId).toBe(first.body.reportId);
    expect(again.body.asOf).toBe(first.body.asOf);

    // A signal changes: debt appears, the report is made again and the score falls by the debt factor.
    debts.set(mei.userId, 500n);
    const indebted = await get(mei, '/v1/credit/score');
    expect(indebted.body.reportId).not.toBe(first.body.reportId);
    expect(indebted.body.factors).toContainEqual(expect.objectContaining({ code: 'OUTSTANDING_DEBT', effect: -80 }));
    expect(indebted.body.score).toBe(Math.max(350, (first.body.score as number) - 80));
    debts.delete(mei.userId);
    const repaid = await get(mei, '/v1/credit/score');
    expect(repaid.body.reportId).not.toBe(indebted.body.reportId);
    expect(repaid.body.score).toBe(first.body.score);

    // After 24 hours the same signals get a new report (tokens are not involved: the service is asked directly).
    const credit = t.app.get(CreditService);
    expect((await credit.currentReport(mei.userId)).id).toBe(repaid.body.reportId);
    clock.advance(24 * 3_600_000);
    const renewed = await credit.currentReport(mei.userId);
    expect(renewed.id).not.toBe(repaid.body.reportId);
    expect(renewed.score).toBe(first.body.score);
    // Concurrent readers share one report.
    const concurrent = await Promise.all(Array.from({ length: 8 }, () => credit.currentReport(mei.userId)));
    expect(new Set(concurrent.map((report) => report.id))).toEqual(new Set([renewed.id]));
  });
});
