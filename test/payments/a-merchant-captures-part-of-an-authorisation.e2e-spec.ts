import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ManualClock } from '../../src/common/clock/clock.js';
import { ExpirySweeper } from '../../src/ledger/expiry-sweeper.js';
import { PaymentIntentsService } from '../../src/payments/payment-intents.service.js';
import { expectLedgerInvariants } from '../support/ledger-invariants.js';
import { expectProblem } from '../support/oauth.js';
import {
  accountBalance,
  bearer,
  createIntent,
  type MerchantFixture,
  merchantBalance,
  payingUser,
  paymentsMerchant,
  postAndRetry,
  postOnce,
  topUp,
  walletOf,
} from '../support/payments.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

const DAY_MS = 86_400_000;

describe('a merchant authorises, then captures part, cancels, or lets an authorisation expire', () => {
  let t: TestApp;
  let shop: MerchantFixture;
  let rival: MerchantFixture;
  let ada: { id: string; token: string };
  const clock = new ManualClock('2026-06-01T09:00:00.000Z');

  const authorise = async (amountMinor: number) => {
    const intent = await createIntent(t, shop.token, { amountMinor, captureMethod: 'manual' });
    const confirmed = await postAndRetry(t, `/v1/payment-intents/${intent.id}/confirm`, ada.token);
    expect(confirmed.status).toBe(200);
    return confirmed.body as { id: string; status: string; amountCapturableMinor: string; authorizationExpiresAt: string };
  };

  beforeAll(async () => {
    t = await startTestApp({ clock });
    shop = await paymentsMerchant(t, 'Shanghai Bike Co.');
    rival = await paymentsMerchant(t, 'Rival Scooters');
    ada = await payingUser(t, shop, 'ada@example.com');
    await topUp(t, ada.token, '100000');
  });
  afterAll(async () => {
    await expectLedgerInvariants(t.dataSource);
    await t.close();
  });

  it('holds the amount on confirmation, then captures part of it, releasing the rest, and charges the fee on the part', async () => {
    const held = await authorise(9900);
    expect(held).toMatchObject({ status: 'requires_capture', amountCapturableMinor: '9900' });
    // The hold lasts the configured 7 days.
    expect(held.authorizationExpiresAt).toBe(new Date(clock.nowMs() + 7 * DAY_MS).toISOString());
    expect(await walletOf(t, ada.token)).toMatchObject({ balanceMinor: '100000', heldMinor: '9900', availableMinor: '90100' });
    expect(await merchantBalance(t, shop.token)).toMatchObject({ availableMinor: '0', pendingMinor: '9900' });

    expectProblem(
      await postAndRetry(t, `/v1/payment-intents/${held.id}/capture`, shop.token, { amountMinor: 9901 }),
      422,
      'CAPTURE_EXCEEDS_AUTHORIZED',
    );
    expectProblem(
      await postAndRetry(t, `/v1/payment-intents/${held.id}/capture`, rival.token, { amountMinor: 100 }),
      404,
      'PAYMENT_INTENT_NOT_FOUND',
    );
    const captured = await postAndRetry(t, `/v1/payment-intents/${held.id}/capture`, shop.token, { amountMinor: 6001 });
    expect(captured.status).toBe(200);
    // 6001 × 60 / 10000 = 36.006 → 36.
    expect(captured.body).toMatchObject({ status: 'succeeded', amountCapturedMinor: '6001', feeMinor: '36', amountCapturableMinor: '0' });
    expect(await walletOf(t, ada.token)).toMatchObject({ balanceMinor: '93999', heldMinor: '0', availableMinor: '93999' });
    expect(await merchantBalance(t, shop.token)).toMatchObject({ availableMinor: '5965', pendingMinor: '0' });
    expect(await accountBalance(t, 'platform:fees:CNY')).toBe(36n);
    // Captured once: a second capture is a conflict.
    expectProblem(await postAndRetry(t, `/v1/payment-intents/${held.id}/capture`, shop.token), 409, 'PAYMENT_INTENT_UNEXPECTED_STATE');
  });

  it('captures the whole authorisation when no amount is given', async () => {
    const held = await authorise(1000);
    const captured = await postAndRetry(t, `/v1/payment-intents/${held.id}/capture`, shop.token, {});
    expect(captured.body).toMatchObject({ status: 'succeeded', amountCapturedMinor: '1000', feeMinor: '6' });
  });

  it('releases the whole hold on cancel, and cancels an unconfirmed intent without moving anything', async () => {
    const before = await walletOf(t, ada.token);
    const held = await authorise(2500);
    const canceled = await postAndRetry(t, `/v1/payment-intents/${held.id}/cancel`, shop.token);
    expect(canceled.body).toMatchObject({ status: 'canceled', amountCapturedMinor: '0' });
    expect(await walletOf(t, ada.token)).toMatchObject({ balanceMinor: before.balanceMinor, heldMinor: '0' });
    expectProblem(await postAndRetry(t, `/v1/payment-intents/${held.id}/capture`, shop.token), 409, 'PAYMENT_INTENT_UNEXPECTED_STATE');

    const unconfirmed = await createIntent(t, shop.token, { amountMinor: 10, captureMethod: 'manual' });
    expect((await postAndRetry(t, `/v1/payment-intents/${unconfirmed.id}/cancel`, shop.token)).body.status).toBe('canceled');
    expectProblem(
      await postAndRetry(t, `/v1/payment-intents/${unconfirmed.id}/confirm`, ada.token),
      409,
      'PAYMENT_INTENT_UNEXPECTED_STATE',
    );
  });

  it('expires an uncaptured authorisation after 7 days, releasing the hold, whichever sweeper runs first', async () => {
    const first = await authorise(300);
    const second = await authorise(400);
    const balance = (await walletOf(t, ada.token)).balanceMinor;
    expect((await walletOf(t, ada.token)).heldMinor).toBe('700');

    clock.advance(7 * DAY_MS - 1000);
    expect(await t.app.get(PaymentIntentsService).expireDue()).toBe(0);
    expect((await t.http().get(`/v1/payment-intents/${first.id}`).set(bearer(shop.token))).body.status).toBe('requires_capture');

    clock.advance(1000);
    // The ledger's own sweeper may expire the holds first; the intents follow all the same.
    expect(await t.app.get(ExpirySweeper).sweep()).toBe(2);
    expect(await t.app.get(PaymentIntentsService).expireDue()).toBe(2);
    for (const intent of [first, second]) {
      expect((await t.http().get(`/v1/payment-intents/${intent.id}`).set(bearer(shop.token))).body.status).toBe('expired');
    }
    expect(await walletOf(t, ada.token)).toMatchObject({ balanceMinor: balance, heldMinor: '0' });
    expect(await t.app.get(PaymentIntentsService).expireDue()).toBe(0);
  });

  it('expires a lapsed authorisation the merchant tries to capture, instead of capturing it', async () => {
    const held = await authorise(800);
    clock.advance(7 * DAY_MS);
    const refused = await postOnce(t, `/v1/payment-intents/${held.id}/capture`, shop.token, {}, 'late-capture');
    expectProblem(refused, 409, 'PAYMENT_INTENT_EXPIRED');
    // A 409 is not kept for the key: the retry runs again and finds the intent expired.
    const retried = await postOnce(t, `/v1/payment-intents/${held.id}/capture`, shop.token, {}, 'late-capture');
    expectProblem(retried, 409, 'PAYMENT_INTENT_UNEXPECTED_STATE');
    expect(retried.body.intentStatus).toBe('expired');
    expect((await t.http().get(`/v1/payment-intents/${held.id}`).set(bearer(shop.token))).body.status).toBe('expired');
    expect((await walletOf(t, ada.token)).heldMinor).toBe('0');
    const audit: { action: string }[] = await t.dataSource.query(
      // The test's clock stands still between requests: ids (UUIDv7, monotonic in one process) break the tie.
      'SELECT action FROM audit_events WHERE resource_id = $1 ORDER BY occurred_at, id',
      [held.id],
    );
    expect(audit.map((row) => row.action)).toEqual(['payment_intent.created', 'payment_intent.confirmed', 'payment_intent.expired']);
  });
});
