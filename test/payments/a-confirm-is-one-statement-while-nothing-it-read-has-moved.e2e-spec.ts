import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { v7 as uuidv7 } from 'uuid';
import { AuditService } from '../../src/audit/audit.service.js';
import { Clock } from '../../src/common/clock/clock.js';
import { LedgerService } from '../../src/ledger/ledger.service.js';
import { PostingEngine } from '../../src/ledger/posting-engine.js';
import { expectLedgerInvariants } from '../support/ledger-invariants.js';
import {
  accountBalance,
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

// A confirmation is first tried as one statement from the intent as its request read it and the
// accounts as the ledger remembers them; anything moved meanwhile sends it down the locking path.
// These tests check both ways give the same answers, and that the one-statement way is really taken.
describe('a confirm written in one statement', () => {
  let t: TestApp;
  let shop: MerchantFixture;
  let ada: { id: string; token: string };
  let engine: PostingEngine;
  let otherInstance: PostingEngine;
  const confirm = (intentId: string) => postAndRetry(t, `/v1/payment-intents/${intentId}/confirm`, ada.token);

  beforeAll(async () => {
    t = await startTestApp();
    shop = await paymentsMerchant(t, 'One Statement Bikes');
    ada = await payingUser(t, shop, 'ada.one@example.com');
    engine = t.app.get(PostingEngine);
    otherInstance = new PostingEngine(t.dataSource, t.app.get(Clock), new AuditService(t.dataSource, t.app.get(Clock)));
    await topUp(t, ada.token, '100000');
  });
  afterAll(async () => {
    await otherInstance.onApplicationShutdown();
    await expectLedgerInvariants(t.dataSource);
    await t.close();
  });

  it('pays from remembered accounts once the locking path has seen them, with the same answers, events and keys', async () => {
    const first = await createIntent(t, shop.token, { amountMinor: 1000 });
    expect((await confirm(first.id)).status).toBe(200);
    const before = { ...engine.writes };
    const paid: Record<string, unknown>[] = [];
    for (const amountMinor of [2000, 3001]) {
      const intent = await createIntent(t, shop.token, { amountMinor });
      // postAndRetry also checks that the retry replays the very response the statement kept.
      const response = await confirm(intent.id);
      expect(response.status).toBe(200);
      paid.push(response.body as Record<string, unknown>);
    }
    expect(engine.writes.fromRemembered - before.fromRemembered).toBe(2);
    expect(engine.writes.rememberedMoved - before.rememberedMoved).toBe(0);
    expect(paid[1]).toMatchObject({ status: 'succeeded', payerUserId: ada.id, amountCapturedMinor: '3001', feeMinor: '18' });
    // The answer is computed, not read back: it must be what the table holds.
    const shown = await t
      .http()
      .get(`/v1/payment-intents/${paid[1]?.id as string}`)
      .set({ Authorization: `Bearer ${shop.token}` });
    expect(shown.body).toEqual(paid[1]);
    const events: { type: string }[] = await t.dataSource.query(
      "SELECT type FROM webhook_events WHERE payload->'data'->'object'->>'id' = ANY($1::text[])",
      [paid.map((body) => body.id)],
    );
    expect(events.map((event) => event.type)).toEqual(['payment_intent.succeeded', 'payment_intent.succeeded']);
    const audited: { action: string; outcome: string }[] = await t.dataSource.query(
      "SELECT action, outcome FROM audit_events WHERE resource_id = ANY($1::text[]) AND action = 'payment_intent.confirmed'",
      [paid.map((body) => body.id)],
    );
    expect(audited).toEqual([
      { action: 'payment_intent.confirmed', outcome: 'success' },
      { action: 'payment_intent.confirmed', outcome: 'success' },
    ]);
    expect(await walletOf(t, ada.token)).toMatchObject({ balanceMinor: String(100000 - 1000 - 2000 - 3001) });
    await expectLedgerInvariants(t.dataSource);
  });

  it('takes the locking path when another instance moved the merchant account, and pays exactly once', async () => {
    const warm = await createIntent(t, shop.token, { amountMinor: 100 });
    expect((await confirm(warm.id)).status).toBe(200);
    const merchantAccount = await t.app.get(LedgerService).findAccountByCode(`merchant:${shop.merchantId}:available:CNY`);
    if (merchantAccount === null) throw new Error('no merchant account');
    const funding = (await t.app.get(LedgerService).openAccount({ code: `external:test:${uuidv7()}`, currency: 'CNY' })).account;
    const moved = await otherInstance.submit({
      commands: [
        {
          type: 'transfer',
          id: uuidv7(),
          debitAccountId: funding.id,
          creditAccountId: merchantAccount.id,
          amount: 5n,
          currency: 'CNY',
          code: 'test',
        },
      ],
      linked: false,
    });
    expect(moved[0]?.ok).toBe(true);
    const balance = BigInt((await merchantBalance(t, shop.token)).availableMinor);
    const before = { ...engine.writes };
    const intent = await createIntent(t, shop.token, { amountMinor: 700 });
    const response = await confirm(intent.id);
    expect(response.status).toBe(200);
    expect(engine.writes.rememberedMoved - before.rememberedMoved).toBe(1);
    // 700 in, 4 of fee out (700 × 60 / 10,000 = 4.2, rounded half up: 4).
    expect(BigInt((await merchantBalance(t, shop.token)).availableMinor)).toBe(balance + 696n);
    expect(await accountBalance(t, `merchant:${shop.merchantId}:available:CNY`)).toBe(balance + 696n);
    await expectLedgerInvariants(t.dataSource);
  });
});
