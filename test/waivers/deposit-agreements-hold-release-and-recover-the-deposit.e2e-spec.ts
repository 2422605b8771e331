import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ManualClock } from '../../src/common/clock/clock.js';
import { checkCharacter } from '../../src/identity/resident-id-number.js';
import { DepositAgreementsService } from '../../src/waivers/deposit-agreements.service.js';
import { expectLedgerInvariants } from '../support/ledger-invariants.js';
import { expectProblem } from '../support/oauth.js';
import {
  accountBalance,
  bearer,
  merchantBalance,
  type MerchantFixture,
  payingUser,
  paymentsMerchant,
  postAndRetry,
  postOnce,
  topUp,
  walletOf,
} from '../support/payments.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

const MERCHANT_SCOPES = 'policies:manage agreements:manage merchant:read payments:write';
const USER_SCOPES = 'payments:pay wallet:read waivers:request identity:verify credit:score';

/** Half the RMB 99 deposit waived from 600, all of it from 650; one open agreement per user; completion charges at most RMB 50. */
const BIKE = {
  deposit: { amountMinor: '9900', currency: 'CNY' },
  tiers: [
    { minScore: 600, waivePercent: 50 },
    { minScore: 650, waivePercent: 100 },
  ],
  conditions: { requireVerifiedIdentity: true, minimumAge: 18, maxActiveAgreements: 1, allowOutstandingDebt: false },
  agreementLifetimeSeconds: 3600,
  maxFinalChargeMinor: '5000',
};

let sequence = 200;
function nextIdNumber(): string {
  sequence += 1;
  const first17 = `31010119880808${String(sequence).padStart(3, '0')}`;
  return `${first17}${checkCharacter(first17)}`;
}

describe('deposit agreements hold, release, charge and recover the deposit, with the ledger moving exactly', () => {
  let t: TestApp;
  let merchant: MerchantFixture;
  let other: MerchantFixture;
  let bikePolicy: string;
  let everyonePolicy: string;
  const clock = new ManualClock(new Date());

  async function rider(email: string) {
    const user = await payingUser(t, merchant, email, USER_SCOPES);
    const verified = await postOnce(t, '/v1/identity/verifications', user.token, { fullName: '骑手', idNumber: nextIdNumber() });
    expect(verified.status).toBe(201);
    return user;
  }

  async function decision(userToken: string, policyId = bikePolicy) {
    const made = await t.http().post('/v1/waivers/decisions').set(bearer(userToken)).send({ policyId });
    expect(made.status).toBe(201);
    return made.body as { id: string; outcome: string; waivedAmount: string; depositDue: string };
  }

  const act = (id: string, action: string, body: object = {}, token = merchant.token) =>
    postAndRetry(t, `/v1/deposit-agreements/${id}/${action}`, token, body);

  beforeAll(async () => {
    t = await startTestApp({ clock, env: { WEBHOOK_ALLOW_LOOPBACK: 'true' } });
    merchant = await paymentsMerchant(t, 'Shanghai Bike Co.', MERCHANT_SCOPES);
    other = await paymentsMerchant(t, 'Hangzhou Power Banks', MERCHANT_SCOPES);
    const created = await postAndRetry(t, '/v1/waiver-policies', merchant.token, { name: 'Bike deposit', version: BIKE });
    bikePolicy = created.body.id as string;
    const everyone = await postAndRetry(t, '/v1/waiver-policies', merchant.token, {
      name: 'Trusted riders',
      version: {
        ...BIKE,
        tiers: [{ minScore: 350, waivePercent: 100 }],
        conditions: { requireVerifiedIdentity: true, maxActiveAgreements: 3 },
      },
    });
    everyonePolicy = everyone.body.id as string;
  });
  afterAll(async () => {
    await expectLedgerInvariants(t.dataSource);
    await t.close();
  });

  it('waives all of it at 650: nothing is held; completion charges the ride from the wallet, less the platform fee', async () => {
    const ada = await rider('score-650@test.invalid');
    await topUp(t, ada.token, '1000');
    const waived = await decision(ada.token);
    expect(waived).toMatchObject({ outcome: 'WAIVED', depositDue: '0' });
    const signed = await postAndRetry(t, '/v1/deposit-agreements', ada.token, { decisionId: waived.id });
    expect(signed.status).toBe(201);
    expect(signed.body).toMatchObject({ status: 'CREATED', heldAmount: '0', waivedAmount: '9900', depositAmount: '9900' });
    const id = signed.body.id as string;
    expect((await walletOf(t, ada.token)).availableMinor).toBe('1000');

    expectProblem(await act(id, 'complete', { finalChargeMinor: '350' }), 409, 'INVALID_TRANSITION');
    expect((await act(id, 'activate')).body.status).toBe('ACTIVE');
    expectProblem(await act(id, 'complete', { finalChargeMinor: '5001' }), 422, 'CHARGE_TOO_LARGE');
    const before = BigInt((await merchantBalance(t, merchant.token)).availableMinor);
    const feesBefore = await accountBalance(t, 'platform:fees:CNY');
    const completed = await act(id, 'complete', { finalChargeMinor: '350' });
    expect(completed.body).toMatchObject({ status: 'COMPLETED', finalCharge: '350' });
    expect((await walletOf(t, ada.token)).availableMinor).toBe('650');
    // 0.60 % of 350 fen is 2.1: 2 fen (half up).
    expect(BigInt((await merchantBalance(t, merchant.token)).availableMinor) - before).toBe(348n);
    expect((await accountBalance(t, 'platform:fees:CNY')) - feesBefore).toBe(2n);
    expectProblem(await postOnce(t, '/v1/deposit-agreements', ada.token, { decisionId: waived.id }), 409, 'DECISION_USED');
  });

  it('holds the part not waived, refuses cleanly without the money, and releases the hold on cancel', async () => {
    const bo = await rider('score-620@test.invalid');
    const partial = await decision(bo.token);
    expect(partial).toMatchObject({ outcome: 'PARTIAL', waivedAmount: '4950', depositDue: '4950' });
    const refused = await postOnce(t, '/v1/deposit-agreements', bo.token, { decisionId: partial.id });
    expectProblem(refused, 422, 'INSUFFICIENT_FUNDS');
    const [{ n }] = await t.dataSource.query('SELECT count(*)::int AS n FROM deposit_agreements WHERE decision_id = $1', [partial.id]);
    expect(n).toBe(0);

    await topUp(t, bo.token, '6000');
    const escrowBefore = await t.dataSource.query(
      `SELECT credits_pending::text AS p FROM ledger_accounts WHERE code = 'platform:deposit-escrow:CNY'`,
    );
    const signed = await postAndRetry(t, '/v1/deposit-agreements', bo.token, { decisionId: partial.id });
    expect(signed.body).toMatchObject({ status: 'CREATED', heldAmount: '4950' });
    expect(await walletOf(t, bo.token)).toMatchObject({ balanceMinor: '6000', heldMinor: '4950', availableMinor: '1050' });
    const escrowAfter = await t.dataSource.query(
      `SELECT credits_pending::text AS p FROM ledger_accounts WHERE code = 'platform:deposit-escrow:CNY'`,
    );
    expect(BigInt(escrowAfter[0].p) - BigInt(escrowBefore[0]?.p ?? '0')).toBe(4950n);

    const cancelled = await act(signed.body.id as string, 'cancel');
    expect(cancelled.body.status).toBe('CANCELLED');
    expect(await walletOf(t, bo.token)).toMatchObject({ balanceMinor: '6000', heldMinor: '0', availableMinor: '6000' });
  });

  it('lets exactly one of two concurrent agreements through the one-open-agreement limit', async () => {
    const cy = await rider('score-700@test.invalid');
    const [first, second] = [await decision(cy.token), await decision(cy.token)];
    const answers = await Promise.all(
      [first, second].map((made) => postOnce(t, '/v1/deposit-agreements', cy.token, { decisionId: made.id })),
    );
    expect(answers.map((answer) => answer.status).sort()).toEqual([201, 409]);
    expectProblem(answers.find((answer) => answer.status === 409) ?? answers[0]!, 409, 'AGREEMENT_LIMIT_REACHED');
  });

  it('recovers a defaulted deposit: the held part captured, the wallet charged, the rest paid by the guarantee as debt', async () => {
    const di = await rider('score-610@test.invalid');
    await topUp(t, di.token, '6000');
    const partial = await decision(di.token);
    const signed = await postAndRetry(t, '/v1/deposit-agreements', di.token, { decisionId: partial.id });
    const id = signed.body.id as string;
    await act(id, 'activate');
    expect((await act(id, 'default')).body.status).toBe('DEFAULTED');
    expectProblem(await act(id, 'claim', { amountMinor: '9901' }), 422, 'CLAIM_TOO_LARGE');
    const merchantBefore = BigInt((await merchantBalance(t, merchant.token)).availableMinor);
    const guaranteeBefore = await accountBalance(t, 'platform:credit-guarantee:CNY');
    const claimed = await act(id, 'claim', { amountMinor: '9900' });
    // 4,950 held is captured; of the 4,950 waived, the wallet's 1,050 pays part; 3,900 is the user's debt.
    expect(claimed.body).toMatchObject({ status: 'RECOVERED', claimedAmount: '9900', debtAmount: '3900' });
    expect(BigInt((await merchantBalance(t, merchant.token)).availableMinor) - merchantBefore).toBe(9900n);
    expect(await walletOf(t, di.token)).toMatchObject({ balanceMinor: '0', heldMinor: '0', owedMinor: '3900' });
    expect(await accountBalance(t, `user:${di.id}:receivable:CNY`)).toBe(-3900n);
    expect(await accountBalance(t, 'platform:credit-guarantee:CNY')).toBe(guaranteeBefore);
    expectProblem(await act(id, 'claim', { amountMinor: '1' }, merchant.token), 409, 'INVALID_TRANSITION');
  });

  it('turns a default into debt that lowers the score, and repayment by top-up restores what the debt took', async () => {
    const eve = await rider(`eve-${randomUUID()}@example.com`);
    const score = async () =>
      (await t.http().get('/v1/credit/score').set(bearer(eve.token))).body as { score: number; factors: { code: string }[] };
    const start = await score();
    await topUp(t, eve.token, '3000');
    const waived = await decision(eve.token, everyonePolicy);
    expect(waived).toMatchObject({ outcome: 'WAIVED', depositDue: '0' });
    const id = (await postAndRetry(t, '/v1/deposit-agreements', eve.token, { decisionId: waived.id })).body.id as string;
    await act(id, 'activate');
    await act(id, 'default');
    const claimed = await act(id, 'claim', { amountMinor: '9900' });
    expect(claimed.body).toMatchObject({ status: 'RECOVERED', debtAmount: '6900' });
    const indebted = await score();
    expect(indebted.factors.map((factor) => factor.code)).toEqual(expect.arrayContaining(['OUTSTANDING_DEBT', 'DEFAULTS']));
    expect(indebted.score).toBe(Math.max(350, start.score - 80 - 40));
    // The debt also closes the door to new waivers.
    const after = await decision(eve.token);
    expect(after.outcome).toBe('DENIED');

    const repaid = await topUp(t, eve.token, '7000');
    expect(repaid.body).toMatchObject({ repaidMinor: '6900', creditedMinor: '100' });
    const restored = await score();
    expect(restored.factors.map((factor) => factor.code)).not.toContain('OUTSTANDING_DEBT');
    expect(restored.score).toBe(Math.max(350, start.score - 40));
  });

  it('keeps agreements to their user and merchant', async () => {
    const fay = await rider('score-800@test.invalid');
    const made = await decision(fay.token);
    const id = (await postAndRetry(t, '/v1/deposit-agreements', fay.token, { decisionId: made.id })).body.id as string;
    expectProblem(await t.http().get(`/v1/deposit-agreements/${id}`).set(bearer(other.token)), 404, 'AGREEMENT_NOT_FOUND');
    expectProblem(await act(id, 'cancel', {}, other.token), 404, 'AGREEMENT_NOT_FOUND');
    const stranger = await rider(`stranger-${randomUUID()}@example.com`);
    expectProblem(await t.http().get(`/v1/deposit-agreements/${id}`).set(bearer(stranger.token)), 404, 'AGREEMENT_NOT_FOUND');
    expectProblem(await postOnce(t, '/v1/deposit-agreements', stranger.token, { decisionId: made.id }), 404, 'DECISION_NOT_FOUND');
    const mine = await t.http().get('/v1/deposit-agreements').set(bearer(fay.token));
    expect(mine.body.data.map((agreement: { id: string }) => agreement.id)).toEqual([id]);
    const merchants = await t.http().get('/v1/deposit-agreements').set(bearer(merchant.token));
    expect(merchants.body.data.map((agreement: { id: string }) => agreement.id)).toContain(id);
    expect((await t.http().get('/v1/deposit-agreements').set(bearer(other.token))).body.data).toEqual([]);
    expect((await postOnce(t, `/v1/deposit-agreements/${id}/cancel`, fay.token)).status).toBe(403);
  });

  it('emits a webhook event for every transition', async () => {
    const rows: { type: string }[] = await t.dataSource.query(
      `SELECT type, count(*)::int AS n FROM webhook_events WHERE merchant_id = $1 AND type LIKE 'deposit_agreement.%' GROUP BY type ORDER BY type`,
      [merchant.merchantId],
    );
    expect(rows).toEqual([
      { type: 'deposit_agreement.activated', n: 3 },
      { type: 'deposit_agreement.cancelled', n: 1 },
      { type: 'deposit_agreement.completed', n: 1 },
      { type: 'deposit_agreement.created', n: 6 },
      { type: 'deposit_agreement.defaulted', n: 2 },
      { type: 'deposit_agreement.recovered', n: 2 },
    ]);
  });

  // Last: the clock moves past every token's life.
  it('expires open agreements past their lifetime and releases their holds', async () => {
    const gus = await rider('score-630@test.invalid');
    await topUp(t, gus.token, '5000');
    const made = await decision(gus.token);
    const id = (await postAndRetry(t, '/v1/deposit-agreements', gus.token, { decisionId: made.id })).body.id as string;
    const wallet = `user:${gus.id}:wallet:CNY`;
    const [held] = await t.dataSource.query('SELECT debits_pending::text AS held FROM ledger_accounts WHERE code = $1', [wallet]);
    expect(held.held).toBe('4950');
    const service = t.app.get(DepositAgreementsService);
    expect(await service.expireDue()).toBe(0);
    clock.advance(3600_000);
    expect(await service.expireDue()).toBeGreaterThanOrEqual(1);
    const [row] = await t.dataSource.query('SELECT status FROM deposit_agreements WHERE id = $1', [id]);
    expect(row.status).toBe('EXPIRED');
    const [released] = await t.dataSource.query('SELECT debits_pending::text AS held FROM ledger_accounts WHERE code = $1', [wallet]);
    expect(released.held).toBe('0');
    expect(await service.expireDue()).toBe(0);
  });
});
