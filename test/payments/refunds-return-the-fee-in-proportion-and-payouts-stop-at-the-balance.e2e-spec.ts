import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { expectLedgerInvariants } from '../support/ledger-invariants.js';
import { clientCredentialsToken, createConfidentialClient, expectProblem } from '../support/oauth.js';
import {
  accountBalance,
  bearer,
  createIntent,
  type MerchantFixture,
  merchantBalance,
  payingUser,
  paymentsMerchant,
  postAndRetry,
  topUp,
  walletOf,
} from '../support/payments.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

describe('fees on awkward amounts, refunds up to the payment, payouts up to the balance', () => {
  let t: TestApp;
  let shop: MerchantFixture;
  let rival: MerchantFixture;
  let ada: { id: string; token: string };
  let platformToken: string;

  const pay = async (amountMinor: number) => {
    const intent = await createIntent(t, shop.token, { amountMinor });
    const paid = await postAndRetry(t, `/v1/payment-intents/${intent.id}/confirm`, ada.token);
    expect(paid.status).toBe(200);
    return paid.body as { id: string; feeMinor: string; amountCapturedMinor: string };
  };

  beforeAll(async () => {
    t = await startTestApp();
    shop = await paymentsMerchant(t, 'Shanghai Bike Co.');
    rival = await paymentsMerchant(t, 'Rival Scooters');
    ada = await payingUser(t, shop, 'ada@example.com');
    await topUp(t, ada.token, '10000000');
    const platform = await createConfidentialClient(t, 'platform', null);
    platformToken = await clientCredentialsToken(t, platform.clientId, platform.clientSecret, 'admin');
  });
  afterAll(async () => {
    await expectLedgerInvariants(t.dataSource);
    await t.close();
  });

  it.each([
    [1, '0'],
    [83, '0'],
    [84, '1'],
    [99, '1'],
    [167, '1'],
    [12345, '74'],
    [99999, '600'],
  ])('charges the fee on %s fen rounded half up: %s', async (amount, fee) => {
    const feesBefore = await accountBalance(t, 'platform:fees:CNY');
    const paid = await pay(amount);
    expect(paid.feeMinor).toBe(fee);
    expect((await accountBalance(t, 'platform:fees:CNY')) - feesBefore).toBe(BigInt(fee));
  });

  const feeSetting = (merchantId: string, token = platformToken) =>
    t.http().get(`/v1/admin/merchants/${merchantId}/payment-settings`).auth(token, { type: 'bearer' });
  const setFee = (merchantId: string, body: unknown, token = platformToken) =>
    t
      .http()
      .put(`/v1/admin/merchants/${merchantId}/payment-settings`)
      .auth(token, { type: 'bearer' })
      .send(body as object);

  it('lets the platform set a merchant’s fee, used by intents created after it, and records each change', async () => {
    expect((await feeSetting(shop.merchantId)).body).toEqual({
      merchantId: shop.merchantId,
      feeBasisPoints: 60,
      isDefault: true,
      updatedAt: null,
    });
    const before = await createIntent(t, shop.token, { amountMinor: 333 });
    const set = await setFee(shop.merchantId, { feeBasisPoints: 250 });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ merchantId: shop.merchantId, feeBasisPoints: 250, isDefault: false });
    expect((await feeSetting(shop.merchantId)).body).toMatchObject({ feeBasisPoints: 250, isDefault: false });
    expect((await createIntent(t, rival.token, { amountMinor: 100 })).feeBasisPoints).toBe(60);
    // 333 × 250 / 10000 = 8.325 → 8; the intent created before the change keeps 60 bps: 333 × 60 / 10000 = 1.998 → 2.
    expect((await pay(333)).feeMinor).toBe('8');
    const earlier = await postAndRetry(t, `/v1/payment-intents/${before.id}/confirm`, ada.token);
    expect(earlier.body).toMatchObject({ feeMinor: '2' });
    expect((await setFee(shop.merchantId, { feeBasisPoints: 60 })).status).toBe(200);
    const events: { action: string; details: Record<string, unknown> }[] = await t.dataSource.query(
      `SELECT action, details FROM audit_events WHERE action = 'merchant.fee.set' AND resource_id = $1 ORDER BY occurred_at, id`,
      [shop.merchantId],
    );
    expect(events.map((event) => event.details)).toEqual([
      { feeBasisPoints: 250, previousFeeBasisPoints: null },
      { feeBasisPoints: 60, previousFeeBasisPoints: 250 },
    ]);
  });

  it('refuses a fee outside 0 to 10,000 whole basis points, an unknown merchant, and any caller but the platform', async () => {
    for (const body of [{ feeBasisPoints: 10_001 }, { feeBasisPoints: -1 }, { feeBasisPoints: 1.5 }, { feeBasisPoints: '60' }, {}]) {
      expectProblem(await setFee(shop.merchantId, body), 400, 'VALIDATION_FAILED');
    }
    expectProblem(await setFee('0193e0a4-7c1b-7000-8000-000000000999', { feeBasisPoints: 10 }), 404, 'MERCHANT_NOT_FOUND');
    expectProblem(await feeSetting('0193e0a4-7c1b-7000-8000-000000000999'), 404, 'MERCHANT_NOT_FOUND');
    expect((await setFee(shop.merchantId, { feeBasisPoints: 0 }, shop.token)).status).toBe(403);
    expect((await feeSetting(shop.merchantId, shop.token)).status).toBe(403);
    expect((await feeSetting(shop.merchantId)).body).toMatchObject({ feeBasisPoints: 60 });
  });

  it('refunds up to the captured amount, returning the fee in proportion, and refuses one fen beyond', async () => {
    const paid = await pay(9999); // fee 60
    const walletBefore = BigInt((await walletOf(t, ada.token)).balanceMinor);
    const feesBefore = await accountBalance(t, 'platform:fees:CNY');
    const first = await postAndRetry(t, '/v1/refunds', shop.token, { paymentIntentId: paid.id, amountMinor: 3333, reason: 'late bike' });
    expect(first.status).toBe(201);
    // floor(60 × 3333 / 9999) = 20.
    expect(first.body).toMatchObject({ object: 'refund', amountMinor: '3333', feeReturnedMinor: '20', status: 'succeeded' });
    const second = await postAndRetry(t, '/v1/refunds', shop.token, { paymentIntentId: paid.id, amountMinor: 3333 });
    // floor(60 × 6666 / 9999) − 20 = 20.
    expect(second.body).toMatchObject({ amountMinor: '3333', feeReturnedMinor: '20' });
    expectProblem(
      await postAndRetry(t, '/v1/refunds', shop.token, { paymentIntentId: paid.id, amountMinor: 3334 }),
      422,
      'REFUND_EXCEEDS_CAPTURED',
    );
    const last = await postAndRetry(t, '/v1/refunds', shop.token, { paymentIntentId: paid.id });
    expect(last.body).toMatchObject({ amountMinor: '3333', feeReturnedMinor: '20' });
    expectProblem(
      await postAndRetry(t, '/v1/refunds', shop.token, { paymentIntentId: paid.id, amountMinor: 1 }),
      422,
      'REFUND_EXCEEDS_CAPTURED',
    );
    // The payer has every fen back; the platform returned exactly the fee it charged.
    expect(BigInt((await walletOf(t, ada.token)).balanceMinor) - walletBefore).toBe(9999n);
    expect(feesBefore - (await accountBalance(t, 'platform:fees:CNY'))).toBe(60n);
    const intent = await t.http().get(`/v1/payment-intents/${paid.id}`).set(bearer(shop.token));
    expect(intent.body).toMatchObject({ amountRefundedMinor: '9999', feeRefundedMinor: '60' });
  });

  it('never returns more fee than was charged, refund by refund on an odd amount', async () => {
    const paid = await pay(167); // fee 1
    const returned: string[] = [];
    for (const amount of [83, 83, 1]) {
      const refund = await postAndRetry(t, '/v1/refunds', shop.token, { paymentIntentId: paid.id, amountMinor: amount });
      expect(refund.status).toBe(201);
      returned.push(refund.body.feeReturnedMinor as string);
    }
    expect(returned).toEqual(['0', '0', '1']);
  });

  it('refunds concurrently without ever exceeding the payment', async () => {
    const paid = await pay(1000);
    const responses = await Promise.all(
      Array.from({ length: 8 }, () =>
        t
          .http()
          .post('/v1/refunds')
          .set(bearer(shop.token))
          .set('Idempotency-Key', crypto.randomUUID())
          .send({ paymentIntentId: paid.id, amountMinor: 300 }),
      ),
    );
    expect(responses.filter((response) => response.status === 201)).toHaveLength(3);
    expect(responses.filter((response) => response.status === 422)).toHaveLength(5);
  });

  it('keeps refunds and payouts to their merchant', async () => {
    const paid = await pay(500);
    expectProblem(
      await postAndRetry(t, '/v1/refunds', rival.token, { paymentIntentId: paid.id, amountMinor: 1 }),
      404,
      'PAYMENT_INTENT_NOT_FOUND',
    );
    const refund = await postAndRetry(t, '/v1/refunds', shop.token, { paymentIntentId: paid.id, amountMinor: 1 });
    expect((await t.http().get(`/v1/refunds/${refund.body.id}`).set(bearer(shop.token))).status).toBe(200);
    expectProblem(await t.http().get(`/v1/refunds/${refund.body.id}`).set(bearer(rival.token)), 404, 'REFUND_NOT_FOUND');
    expect((await t.http().get('/v1/refunds').set(bearer(rival.token))).body.data).toEqual([]);
    const unpaid = await createIntent(t, shop.token, { amountMinor: 10 });
    expectProblem(await postAndRetry(t, '/v1/refunds', shop.token, { paymentIntentId: unpaid.id }), 409, 'PAYMENT_INTENT_UNEXPECTED_STATE');
  });

  it('pays out up to the available balance and refuses a fen more', async () => {
    const available = BigInt((await merchantBalance(t, shop.token)).availableMinor);
    expect(available).toBeGreaterThan(1000n);
    const payout = await postAndRetry(t, '/v1/payouts', shop.token, { amountMinor: (available - 1000n).toString(), currency: 'CNY' });
    expect(payout.status).toBe(201);
    expect(payout.body).toMatchObject({ object: 'payout', status: 'paid', amountMinor: (available - 1000n).toString() });
    expectProblem(
      await postAndRetry(t, '/v1/payouts', shop.token, { amountMinor: 1001, currency: 'CNY' }),
      422,
      'INSUFFICIENT_MERCHANT_BALANCE',
    );
    const rest = await postAndRetry(t, '/v1/payouts', shop.token, { amountMinor: 1000, currency: 'CNY' });
    expect(rest.status).toBe(201);
    expect(await merchantBalance(t, shop.token)).toMatchObject({ availableMinor: '0' });
    expect(await accountBalance(t, 'external:payouts:CNY')).toBe(available);
    // A merchant with nothing cannot pay out, and sees only its own payouts.
    expectProblem(
      await postAndRetry(t, '/v1/payouts', rival.token, { amountMinor: 1, currency: 'CNY' }),
      422,
      'INSUFFICIENT_MERCHANT_BALANCE',
    );
    expectProblem(await t.http().get(`/v1/payouts/${payout.body.id}`).set(bearer(rival.token)), 404, 'PAYOUT_NOT_FOUND');
    const statement = await t.http().get(`/v1/merchant/statement?currency=CNY&limit=2`).set(bearer(shop.token));
    expect(statement.body.data.map((line: { code: string }) => line.code)).toEqual(['payout', 'payout']);
  });
});
