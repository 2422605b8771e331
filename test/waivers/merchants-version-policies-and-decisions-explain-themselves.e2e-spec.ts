import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { checkCharacter } from '../../src/identity/resident-id-number.js';
import { decide, type WaiverFacts } from '../../src/waivers/waiver-decision.engine.js';
import { WaiversService } from '../../src/waivers/waivers.service.js';
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

/** The bike-rental policy of the story: the RMB 99 deposit waived at a score of 650 or more. */
const BIKE_POLICY = {
  name: 'Bike deposit',
  version: {
    deposit: { amountMinor: '9900', currency: 'CNY' },
    tiers: [{ minScore: 650, waivePercent: 100 }],
    conditions: { requireVerifiedIdentity: true, minimumAge: 18, maxActiveAgreements: 1, allowOutstandingDebt: false },
    agreementLifetimeSeconds: 86_400,
  },
};

let sequence = 100;
function nextIdNumber(): string {
  sequence += 1;
  const first17 = `11010519900101${String(sequence).padStart(3, '0')}`;
  return `${first17}${checkCharacter(first17)}`;
}

describe('merchants version their waiver policies, and decisions explain themselves', () => {
  let t: TestApp;
  let app: Fixture;
  let otherApp: Fixture;
  let merchantToken: string;
  let otherMerchantToken: string;
  let policyId: string;

  const merchant = (token: string) => ({
    post: (path: string, body: unknown, key: string = randomUUID()) =>
      t
        .http()
        .post(path)
        .set('authorization', `Bearer ${token}`)
        .set('idempotency-key', key)
        .send(body as object),
    get: (path: string) => t.http().get(path).set('authorization', `Bearer ${token}`),
  });

  async function verifiedUser(email: string, scopes: Parameters<typeof signedInUser>[3] = ['waivers:request', 'identity:verify']) {
    const user = await signedInUser(t, app, email, scopes);
    const verified = await t
      .http()
      .post('/v1/identity/verifications')
      .set('authorization', `Bearer ${user.token}`)
      .set('idempotency-key', randomUUID())
      .send({ fullName: '骑车人', idNumber: nextIdNumber() });
    expect(verified.status).toBe(201);
    return user;
  }

  const ask = (user: SignedInUser, id = policyId) =>
    t.http().post('/v1/waivers/decisions').set('authorization', `Bearer ${user.token}`).send({ policyId: id });

  beforeAll(async () => {
    t = await startTestApp();
    const merchantId = await createMerchant(t, 'Shanghai Bike Co.');
    const otherMerchantId = await createMerchant(t, 'Hangzhou Power Banks');
    app = await createMiniProgram(t, merchantId);
    otherApp = await createMiniProgram(t, otherMerchantId, { name: 'Charge & Go' });
    const backend = await createConfidentialClient(t, 'merchant', merchantId);
    merchantToken = await clientCredentialsToken(t, backend.clientId, backend.clientSecret, 'policies:manage agreements:manage');
    const otherBackend = await createConfidentialClient(t, 'merchant', otherMerchantId);
    otherMerchantToken = await clientCredentialsToken(
      t,
      otherBackend.clientId,
      otherBackend.clientSecret,
      'policies:manage agreements:manage',
    );
  });
  afterAll(async () => {
    await t.close();
  });

  it('creates a policy with its first version active, and replays it for the same key', async () => {
    const key = randomUUID();
    const created = await merchant(merchantToken).post('/v1/waiver-policies', BIKE_POLICY, key);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'Bike deposit',
      activeVersion: 1,
      versions: [
        {
          version: 1,
          deposit: { amountMinor: '9900', currency: 'CNY' },
          tiers: [{ minScore: 650, waivePercent: 100 }],
          scoreUnavailableWaivePercent: 0,
          conditions: {
            requireVerifiedIdentity: true,
            minimumAge: 18,
            maxActiveAgreements: 1,
            allowOutstandingDebt: false,
            maxWaivedExposureMinor: null,
          },
          maxFinalChargeMinor: '9900',
          decisionTtlSeconds: 900,
        },
      ],
    });
    policyId = created.body.id as string;
    const replay = await merchant(merchantToken).post('/v1/waiver-policies', BIKE_POLICY, key);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toEqual(created.body);
    const list = await merchant(merchantToken).get('/v1/waiver-policies');
    expect(list.body.data.map((policy: { id: string }) => policy.id)).toEqual([policyId]);
    expect((await merchant(otherMerchantToken).get('/v1/waiver-policies')).body.data).toEqual([]);
  });

  it('refuses an invalid policy field by field', async () => {
    const bad = await merchant(merchantToken).post('/v1/waiver-policies', {
      name: '',
      version: {
        deposit: { amountMinor: '0', currency: 'cny' },
        tiers: [{ minScore: 300, waivePercent: 101 }],
        agreementLifetimeSeconds: 10,
        extra: true,
      },
    });
    expectProblem(bad, 400, 'VALIDATION_FAILED');
    const fields = (bad.body.errors as { field: string }[]).map((error) => error.field).sort();
    expect(fields).toEqual(
      expect.arrayContaining([
        'name',
        'version.agreementLifetimeSeconds',
        'version.deposit.amountMinor',
        'version.deposit.currency',
        'version.extra',
        'version.tiers.0.minScore',
        'version.tiers.0.waivePercent',
      ]),
    );
    const unsorted = await merchant(merchantToken).post('/v1/waiver-policies', {
      ...BIKE_POLICY,
      version: {
        ...BIKE_POLICY.version,
        tiers: [
          { minScore: 700, waivePercent: 100 },
          { minScore: 650, waivePercent: 50 },
        ],
      },
    });
    expectProblem(unsorted, 400, 'VALIDATION_FAILED');
    expect(unsorted.body.errors).toEqual([
      expect.objectContaining({ field: 'tiers.1.minScore', rule: 'sorted' }),
      expect.objectContaining({ field: 'tiers.1.waivePercent', rule: 'monotonic' }),
    ]);
    const noKey = await t.http().post('/v1/waiver-policies').set('authorization', `Bearer ${merchantToken}`).send(BIKE_POLICY);
    expectProblem(noKey, 400, 'IDEMPOTENCY_KEY_REQUIRED');
  });

  it('waives at exactly 650 and not at 649, shows the band unless the token holds credit:score, and denies N/A with the reason', async () => {
    const [at650, at649, none] = await Promise.all([
      verifiedUser('score-650@test.invalid'),
      verifiedUser('score-649@test.invalid'),
      verifiedUser('score-na@test.invalid'),
    ]);
    const waived = await ask(at650);
    expect(waived.status).toBe(201);
    expect(waived.body).toMatchObject({ outcome: 'WAIVED', waivedAmount: '9900', depositDue: '0', currency: 'CNY', policyVersion: 1 });
    expect(waived.body.reasons).toEqual([
      { code: 'IDENTITY_VERIFIED', passed: true, observed: 'verified', required: 'verified' },
      { code: 'MINIMUM_AGE', passed: true, observed: expect.any(Number), required: 18 },
      { code: 'MAX_ACTIVE_AGREEMENTS', passed: true, observed: 0, required: 1 },
      { code: 'NO_OUTSTANDING_DEBT', passed: true, observed: '0', required: '0' },
      { code: 'CREDIT_SCORE', passed: true, observed: '650-699', required: 650 },
    ]);
    expect(Date.parse(waived.body.expiresAt as string) - Date.parse(waived.body.createdAt as string)).toBe(900_000);

    const denied = await ask(at649);
    expect(denied.body).toMatchObject({ outcome: 'DENIED', waivedAmount: '0', depositDue: '9900' });
    expect(denied.body.reasons).toContainEqual({ code: 'CREDIT_SCORE', passed: false, observed: '600-649', required: 650 });
    const na = await ask(none);
    expect(na.status).toBe(201);
    expect(na.body.reasons).toContainEqual({ code: 'CREDIT_SCORE', passed: false, observed: 'N/A', required: 650 });

    const withScore = await verifiedUser('score-651@test.invalid', ['waivers:request', 'identity:verify', 'credit:score']);
    expect((await ask(withScore)).body.reasons).toContainEqual({ code: 'CREDIT_SCORE', passed: true, observed: 651, required: 650 });
  });

  it('denies an unverified user with every missing fact named, never an error', async () => {
    const stranger = await signedInUser(t, app, 'score-800@test.invalid', ['waivers:request']);
    const decision = await ask(stranger);
    expect(decision.status).toBe(201);
    expect(decision.body.outcome).toBe('DENIED');
    expect(decision.body.reasons.filter((reason: { passed: boolean }) => !reason.passed)).toEqual([
      { code: 'IDENTITY_VERIFIED', passed: false, observed: 'unverified', required: 'verified' },
      { code: 'MINIMUM_AGE', passed: false, observed: null, required: 18 },
    ]);
  });

  it('stores the facts and the version, so a decision replays to the same answer, and records it for audit', async () => {
    const user = await verifiedUser('score-700@test.invalid');
    const made = await ask(user);
    const stored = await t.app
      .get(WaiversService)
      .getDecision(
        { clientId: app.clientId, clientType: 'mini_program', merchantId: app.merchantId, userId: user.userId, scopes: [] },
        made.body.id as string,
      );
    const terms = await t.app.get(WaiversService).version(stored.policyId, stored.policyVersion);
    if (terms === undefined) throw new Error('no terms');
    const replayed = decide(terms, stored.facts as WaiverFacts);
    expect({ outcome: replayed.outcome, waived: replayed.waivedMinor.toString(), reasons: replayed.reasons }).toEqual({
      outcome: made.body.outcome,
      waived: made.body.waivedAmount,
      reasons: stored.reasons,
    });
    expect(stored.facts).toMatchObject({ score: 700, identity: 'verified', activeAgreements: 0, creditReportId: expect.any(String) });
    // The answer is the decision as stored.
    const readBack = await t
      .http()
      .get(`/v1/waivers/decisions/${made.body.id as string}`)
      .set('authorization', `Bearer ${user.token}`);
    expect(readBack.body).toEqual(made.body);
    const [event] = await t.dataSource.query(
      `SELECT action, purpose, resource_id, details FROM audit_events WHERE action = 'waiver.decision.made' AND resource_id = $1`,
      [made.body.id],
    );
    // Exactly these details, and no score anywhere in the event once its ids are masked (a random id may hold "700").
    expect(event).toMatchObject({ purpose: 'waiver.decision' });
    expect(event.details).toEqual({ outcome: 'WAIVED', policyId, policyVersion: 1, creditReportId: stored.facts.creditReportId });
    let eventText = JSON.stringify(event);
    for (const id of [made.body.id as string, policyId, stored.facts.creditReportId as string])
      eventText = eventText.replaceAll(id, '<id>');
    expect(eventText).not.toContain('700');
    // The merchant reads it too, with the band.
    const asMerchant = await merchant(merchantToken).get(`/v1/waivers/decisions/${made.body.id as string}`);
    expect(asMerchant.body.reasons).toContainEqual(expect.objectContaining({ code: 'CREDIT_SCORE', observed: '700-950' }));
    expectProblem(await merchant(otherMerchantToken).get(`/v1/waivers/decisions/${made.body.id as string}`), 404, 'DECISION_NOT_FOUND');
  });

  it('writes each of many concurrent decisions once, with its own audit event', async () => {
    const user = await verifiedUser('score-690@test.invalid');
    const answers = await Promise.all(Array.from({ length: 40 }, () => ask(user)));
    expect(answers.map((answer) => answer.status)).toEqual(Array.from({ length: 40 }, () => 201));
    const ids = answers.map((answer) => answer.body.id as string);
    expect(new Set(ids).size).toBe(40);
    const [{ decisions }] = await t.dataSource.query('SELECT count(*)::int AS decisions FROM waiver_decisions WHERE id = ANY($1::uuid[])', [
      ids,
    ]);
    const [{ events }] = await t.dataSource.query(
      `SELECT count(DISTINCT resource_id)::int AS events FROM audit_events WHERE action = 'waiver.decision.made' AND resource_id = ANY($1) AND request_id IS NOT NULL`,
      [ids],
    );
    expect({ decisions, events }).toEqual({ decisions: 40, events: 40 });
  });

  it("answers the concurrent decisions of different users each from that user's own facts, and sees a new agreement at once", async () => {
    const [signer, other, low] = await Promise.all([
      verifiedUser('score-660@test.invalid'),
      verifiedUser('score-661@test.invalid'),
      verifiedUser('score-640@test.invalid'),
    ]);
    const stranger = await signedInUser(t, app, 'score-802@test.invalid', ['waivers:request']);
    const first = await ask(signer);
    expect(first.body).toMatchObject({ outcome: 'WAIVED', depositDue: '0' });
    const signed = await t
      .http()
      .post('/v1/deposit-agreements')
      .set('authorization', `Bearer ${signer.token}`)
      .set('idempotency-key', randomUUID())
      .send({ decisionId: first.body.id });
    expect(signed.status).toBe(201);

    // Asked together, so that their reads share queries: each answer is its own user's.
    const users = [signer, other, low, stranger];
    const answers = await Promise.all(users.flatMap((user) => [ask(user), ask(user), ask(user)]));
    expect(answers.map((answer) => answer.status)).toEqual(Array.from({ length: 12 }, () => 201));
    const failed = (index: number) =>
      (answers[index]?.body.reasons as { code: string; passed: boolean; observed: unknown }[])
        .filter((reason) => !reason.passed)
        .map((reason) => [reason.code, reason.observed]);
    for (let round = 0; round < 3; round += 1) {
      expect(answers[round]?.body).toMatchObject({ outcome: 'DENIED', waivedAmount: '0' });
      expect(failed(round)).toEqual([['MAX_ACTIVE_AGREEMENTS', 1]]);
      expect(answers[3 + round]?.body).toMatchObject({ outcome: 'WAIVED', waivedAmount: '9900' });
      expect(failed(6 + round)).toEqual([['CREDIT_SCORE', '600-649']]);
      expect(failed(9 + round)).toEqual([
        ['IDENTITY_VERIFIED', 'unverified'],
        ['MINIMUM_AGE', null],
      ]);
    }
    const stored: { user_id: string; active: number }[] = await t.dataSource.query(
      `SELECT DISTINCT user_id::text, (facts->>'activeAgreements')::int AS active FROM waiver_decisions WHERE id = ANY($1::uuid[]) ORDER BY 1`,
      [answers.map((answer) => answer.body.id as string)],
    );
    expect(stored).toEqual(
      [
        { user_id: signer.userId, active: 1 },
        { user_id: other.userId, active: 0 },
        { user_id: low.userId, active: 0 },
        { user_id: stranger.userId, active: 0 },
      ].sort((a, b) => a.user_id.localeCompare(b.user_id)),
    );
  });

  it('adds versions that become active, and never changes one once written', async () => {
    const v2 = await merchant(merchantToken).post(`/v1/waiver-policies/${policyId}/versions`, {
      ...BIKE_POLICY.version,
      tiers: [
        { minScore: 600, waivePercent: 50 },
        { minScore: 650, waivePercent: 100 },
      ],
    });
    expect(v2.status).toBe(201);
    expect(v2.body).toMatchObject({ version: 2, policy: { activeVersion: 2 } });
    const v3 = await merchant(merchantToken).post(`/v1/waiver-policies/${policyId}/versions`, { ...BIKE_POLICY.version, activate: false });
    expect(v3.body).toMatchObject({ version: 3, policy: { activeVersion: 2 } });
    const user = await verifiedUser('score-620@test.invalid');
    expect((await ask(user)).body).toMatchObject({ outcome: 'PARTIAL', waivedAmount: '4950', depositDue: '4950', policyVersion: 2 });
    const v1 = await merchant(merchantToken).get(`/v1/waiver-policies/${policyId}/versions/1`);
    expect(v1.body.tiers).toEqual([{ minScore: 650, waivePercent: 100 }]);
    const full = await merchant(merchantToken).get(`/v1/waiver-policies/${policyId}`);
    expect(full.body.versions.map((version: { version: number }) => version.version)).toEqual([1, 2, 3]);
    await expect(
      t.dataSource.query(`UPDATE waiver_policy_versions SET deposit_minor = 1 WHERE policy_id = $1`, [policyId]),
    ).rejects.toThrow(/never changed/);
    await expect(t.dataSource.query(`DELETE FROM waiver_decisions`)).rejects.toThrow(/never changed/);
  });

  it("keeps each merchant's policies to itself and its mini-programs, and checks scopes", async () => {
    const outsider = await signedInUser(t, otherApp, `outsider-${randomUUID()}@example.com`, ['waivers:request']);
    expectProblem(await ask(outsider), 404, 'POLICY_NOT_FOUND');
    // Refused for its policy, the request changed nothing: not even a first credit report for the user
    // (given time for any work the request might have left running to finish).
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await t.dataSource.query('SELECT 1 FROM credit_reports WHERE user_id = $1', [outsider.userId])).toEqual([]);
    expectProblem(await merchant(otherMerchantToken).get(`/v1/waiver-policies/${policyId}`), 404, 'POLICY_NOT_FOUND');
    expectProblem(
      await merchant(otherMerchantToken).post(`/v1/waiver-policies/${policyId}/versions`, BIKE_POLICY.version),
      404,
      'POLICY_NOT_FOUND',
    );
    const insider = await signedInUser(t, app, `insider-${randomUUID()}@example.com`, ['waivers:request']);
    expect((await t.http().get(`/v1/waiver-policies/${policyId}`).set('authorization', `Bearer ${insider.token}`)).status).toBe(200);
    expect(
      (
        await t
          .http()
          .post('/v1/waiver-policies')
          .set('authorization', `Bearer ${insider.token}`)
          .set('idempotency-key', randomUUID())
          .send(BIKE_POLICY)
      ).status,
    ).toBe(403);
    expect((await t.http().post('/v1/waivers/decisions').set('authorization', `Bearer ${merchantToken}`).send({ policyId })).status).toBe(
      403,
    );
    expectProblem(await ask(insider, randomUUID()), 404, 'POLICY_NOT_FOUND');
    expectProblem(await ask(insider, 'not-a-uuid'), 400, 'VALIDATION_FAILED');
  });
});
