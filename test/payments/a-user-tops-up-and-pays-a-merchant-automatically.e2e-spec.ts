import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { v7 as uuidv7 } from 'uuid';
import { LedgerService } from '../../src/ledger/ledger.service.js';
import { PaymentAccounts } from '../../src/payments/payment-accounts.js';
import { intentTransferId } from '../../src/payments/payment-intent.js';
import { WalletService } from '../../src/payments/wallet.service.js';
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
  userTokenAt,
  walletOf,
} from '../support/payments.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

describe('a user tops up and pays a merchant with automatic capture', () => {
  let t: TestApp;
  let shop: MerchantFixture;
  let rival: MerchantFixture;
  let ada: { id: string; token: string; email: string; password: string };
  let bob: { id: string; token: string; email: string; password: string };

  beforeAll(async () => {
    t = await startTestApp();
    shop = await paymentsMerchant(t, 'Shanghai Bike Co.');
    rival = await paymentsMerchant(t, 'Rival Scooters');
    ada = await payingUser(t, shop, 'ada@example.com');
    bob = await payingUser(t, shop, 'bob@example.com');
  });
  afterAll(async () => {
    await expectLedgerInvariants(t.dataSource);
    await t.close();
  });

  it('tops up the wallet through the sandbox rail and shows the balance and the entry', async () => {
    const response = await topUp(t, ada.token, '10000');
    expect(response.body).toMatchObject({
      object: 'top_up',
      amountMinor: '10000',
      repaidMinor: '0',
      creditedMinor: '10000',
      status: 'succeeded',
    });
    const wallet = await walletOf(t, ada.token);
    expect(wallet).toMatchObject({ balanceMinor: '10000', availableMinor: '10000', heldMinor: '0', owedMinor: '0' });
    expect(wallet.recentEntries[0]).toMatchObject({ code: 'top_up', direction: 'credit', amountMinor: '10000' });
    expect(await accountBalance(t, `user:${ada.id}:wallet:CNY`)).toBe(10000n);
  });

  it('pays an automatic intent at once: wallet to merchant, and the fee to the platform in the same step', async () => {
    const intent = await createIntent(t, shop.token, { amountMinor: 9999, description: 'Ride 42', merchantReference: 'order-42' });
    expect(intent).toMatchObject({ status: 'requires_confirmation', amountMinor: '9999', feeBasisPoints: 60, userId: null });
    const confirmed = await postAndRetry(t, `/v1/payment-intents/${intent.id}/confirm`, ada.token);
    expect(confirmed.status).toBe(200);
    // 9999 × 60 / 10000 = 59.994, rounded half up: 60.
    expect(confirmed.body).toMatchObject({ status: 'succeeded', payerUserId: ada.id, amountCapturedMinor: '9999', feeMinor: '60' });
    expect(await walletOf(t, ada.token)).toMatchObject({ balanceMinor: '1', availableMinor: '1' });
    expect(await merchantBalance(t, shop.token)).toMatchObject({ availableMinor: '9939', pendingMinor: '0' });
    expect(await accountBalance(t, 'platform:fees:CNY')).toBe(60n);
    const transfers: { id: string; linked_batch_id: string | null }[] = await t.dataSource.query(
      'SELECT id, linked_batch_id FROM ledger_transfers WHERE id = ANY($1::uuid[])',
      [[intentTransferId(intent.id, 'charge'), intentTransferId(intent.id, 'fee')]],
    );
    expect(transfers).toHaveLength(2);
    expect(new Set(transfers.map((row) => row.linked_batch_id)).size).toBe(1);
    const statement = await t.http().get('/v1/merchant/statement?currency=CNY').set(bearer(shop.token));
    expect(statement.status).toBe(200);
    expect(
      statement.body.data.map((line: { code: string; direction: string; amountMinor: string }) => [
        line.code,
        line.direction,
        line.amountMinor,
      ]),
    ).toEqual(
      expect.arrayContaining([
        ['payment', 'credit', '9999'],
        ['payment_fee', 'debit', '60'],
      ]),
    );
    const audit: { action: string }[] = await t.dataSource.query(
      'SELECT action FROM audit_events WHERE resource_id = $1 ORDER BY occurred_at, id',
      [intent.id],
    );
    expect(audit.map((row) => row.action)).toEqual(['payment_intent.created', 'payment_intent.confirmed']);
  });

  it('refuses a payment the wallet cannot cover, moving nothing, and lets it succeed after a top-up', async () => {
    const intent = await createIntent(t, shop.token, { amountMinor: 500 });
    const refused = await postAndRetry(t, `/v1/payment-intents/${intent.id}/confirm`, ada.token);
    expectProblem(refused, 422, 'INSUFFICIENT_FUNDS');
    expect((await t.http().get(`/v1/payment-intents/${intent.id}`).set(bearer(shop.token))).body.status).toBe('requires_confirmation');
    await topUp(t, ada.token, '499');
    const paid = await postAndRetry(t, `/v1/payment-intents/${intent.id}/confirm`, ada.token);
    expect(paid.status).toBe(200);
    expect(await walletOf(t, ada.token)).toMatchObject({ balanceMinor: '0' });
  });

  it('lets exactly one of many concurrent confirms of one intent succeed', async () => {
    await topUp(t, bob.token, '100000');
    const intent = await createIntent(t, shop.token, { amountMinor: 1000 });
    const responses = await Promise.all(
      Array.from({ length: 12 }, () => postOnce(t, `/v1/payment-intents/${intent.id}/confirm`, bob.token)),
    );
    const statuses = responses.map((response) => response.status).sort();
    expect(statuses.filter((status) => status === 200)).toHaveLength(1);
    expect(statuses.filter((status) => status === 409)).toHaveLength(11);
    for (const response of responses.filter((r) => r.status === 409)) expectProblem(response, 409, 'PAYMENT_INTENT_UNEXPECTED_STATE');
    expect(await walletOf(t, bob.token)).toMatchObject({ balanceMinor: '99000' });
  });

  it('runs a confirm once for a key sent twice at the same moment: the other answer replays it', async () => {
    await topUp(t, bob.token, '1000');
    const intent = await createIntent(t, shop.token, { amountMinor: 100 });
    const before = await walletOf(t, bob.token);
    const key = uuidv7();
    const responses = await Promise.all(
      Array.from({ length: 6 }, () => postOnce(t, `/v1/payment-intents/${intent.id}/confirm`, bob.token, {}, key)),
    );
    expect(responses.map((response) => response.status)).toEqual(responses.map(() => 200));
    expect(responses.filter((response) => response.headers['idempotent-replayed'] === undefined)).toHaveLength(1);
    for (const response of responses) expect(response.body).toEqual(responses[0]?.body);
    expect(BigInt(before.balanceMinor) - BigInt((await walletOf(t, bob.token)).balanceMinor)).toBe(100n);
    // The same key for another intent is another request.
    const other = await createIntent(t, shop.token, { amountMinor: 100 });
    expectProblem(await postOnce(t, `/v1/payment-intents/${other.id}/confirm`, bob.token, {}, key), 422, 'IDEMPOTENCY_KEY_REUSED');
  });

  it('keeps the response of a confirm in the transaction that pays: if keeping it fails, nothing is paid', async () => {
    await topUp(t, bob.token, '1000');
    const intent = await createIntent(t, shop.token, { amountMinor: 10 });
    await t.dataSource.query(
      `CREATE FUNCTION test_refuse_completion() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'simulated failure'; END $$`,
    );
    await t.dataSource.query(
      `CREATE TRIGGER test_refuse_completion BEFORE INSERT OR UPDATE ON idempotency_keys FOR EACH ROW
         WHEN (NEW.state = 'completed') EXECUTE FUNCTION test_refuse_completion()`,
    );
    try {
      const failed = await postOnce(t, `/v1/payment-intents/${intent.id}/confirm`, bob.token, {}, 'completion-key');
      expect(failed.status).toBe(500);
      const transfers: unknown[] = await t.dataSource.query('SELECT id FROM ledger_transfers WHERE id = $1', [
        intentTransferId(intent.id, 'charge'),
      ]);
      expect(transfers).toEqual([]);
      expect((await t.http().get(`/v1/payment-intents/${intent.id}`).set(bearer(shop.token))).body.status).toBe('requires_confirmation');
      expect(await t.dataSource.query(`SELECT 1 FROM idempotency_keys WHERE key = 'completion-key'`)).toEqual([]);
    } finally {
      await t.dataSource.query('DROP TRIGGER test_refuse_completion ON idempotency_keys');
      await t.dataSource.query('DROP FUNCTION test_refuse_completion()');
    }
    const paid = await postOnce(t, `/v1/payment-intents/${intent.id}/confirm`, bob.token, {}, 'completion-key');
    expect(paid.status).toBe(200);
    const [stored]: { state: string; response_status: number; response_body: unknown }[] = await t.dataSource.query(
      `SELECT state, response_status, response_body FROM idempotency_keys WHERE key = 'completion-key'`,
    );
    expect(stored).toEqual({ state: 'completed', response_status: 200, response_body: paid.body });
  });

  it('pays many intents concurrently, each exactly once', async () => {
    const intents = await Promise.all(Array.from({ length: 20 }, (_, index) => createIntent(t, shop.token, { amountMinor: 100 + index })));
    const before = await merchantBalance(t, shop.token);
    const responses = await Promise.all(intents.map((intent) => postOnce(t, `/v1/payment-intents/${intent.id}/confirm`, bob.token)));
    expect(responses.map((response) => response.status)).toEqual(intents.map(() => 200));
    const total = intents.reduce((sum, _, index) => sum + 100 + index, 0);
    const fees = intents.reduce((sum, _, index) => sum + Math.floor(((100 + index) * 60 + 5000) / 10000), 0);
    expect(BigInt((await merchantBalance(t, shop.token)).availableMinor) - BigInt(before.availableMinor)).toBe(BigInt(total - fees));
  });

  it('lets a user confirm only intents of the mini-program’s merchant addressed to them or to nobody', async () => {
    const forBob = await createIntent(t, shop.token, { amountMinor: 10, userId: bob.id });
    const byAda = await postAndRetry(t, `/v1/payment-intents/${forBob.id}/confirm`, ada.token);
    expectProblem(byAda, 404, 'PAYMENT_INTENT_NOT_FOUND');
    expectProblem(await t.http().get(`/v1/payment-intents/${forBob.id}`).set(bearer(ada.token)), 404, 'PAYMENT_INTENT_NOT_FOUND');
    // Bob, signed in through the rival merchant's mini-program, cannot pay the shop's intent.
    const bobAtRival = await userTokenAt(t, rival, bob);
    expectProblem(await postAndRetry(t, `/v1/payment-intents/${forBob.id}/confirm`, bobAtRival), 404, 'PAYMENT_INTENT_NOT_FOUND');
    const byBob = await postAndRetry(t, `/v1/payment-intents/${forBob.id}/confirm`, bob.token);
    expect(byBob.body).toMatchObject({ status: 'succeeded', payerUserId: bob.id });
    // Once paid, an intent addressed to nobody is visible only to its payer among users.
    const open = await createIntent(t, shop.token, { amountMinor: 10 });
    await postAndRetry(t, `/v1/payment-intents/${open.id}/confirm`, bob.token);
    expect((await t.http().get(`/v1/payment-intents/${open.id}`).set(bearer(bob.token))).status).toBe(200);
    expectProblem(await t.http().get(`/v1/payment-intents/${open.id}`).set(bearer(ada.token)), 404, 'PAYMENT_INTENT_NOT_FOUND');
  });

  it('keeps each merchant to its own intents: another merchant’s are not found', async () => {
    const intent = await createIntent(t, shop.token, { amountMinor: 10 });
    expectProblem(await t.http().get(`/v1/payment-intents/${intent.id}`).set(bearer(rival.token)), 404, 'PAYMENT_INTENT_NOT_FOUND');
    expectProblem(await postAndRetry(t, `/v1/payment-intents/${intent.id}/cancel`, rival.token), 404, 'PAYMENT_INTENT_NOT_FOUND');
    expectProblem(await postAndRetry(t, `/v1/payment-intents/${intent.id}/capture`, rival.token), 404, 'PAYMENT_INTENT_NOT_FOUND');
    const list = await t.http().get('/v1/payment-intents?limit=100').set(bearer(rival.token));
    expect(list.status).toBe(200);
    expect(list.body.data).toEqual([]);
    const own = await t.http().get('/v1/payment-intents?limit=2').set(bearer(shop.token));
    expect(own.body.data).toHaveLength(2);
    expect(typeof own.body.nextCursor).toBe('string');
    const next = await t.http().get(`/v1/payment-intents?limit=2&cursor=${own.body.nextCursor}`).set(bearer(shop.token));
    expect(next.body.data[0].id).not.toBe(own.body.data[1].id);
  });

  it('refuses the wrong kind of token and a POST without an Idempotency-Key', async () => {
    const intent = await createIntent(t, shop.token, { amountMinor: 10 });
    // A merchant token cannot confirm (a user pays); a user token cannot create or capture.
    expect((await postOnce(t, `/v1/payment-intents/${intent.id}/confirm`, shop.token)).status).toBe(403);
    expect(
      (await postOnce(t, '/v1/payment-intents', ada.token, { amountMinor: 1, currency: 'CNY', captureMethod: 'automatic' })).status,
    ).toBe(403);
    const noKey = await t
      .http()
      .post('/v1/payment-intents')
      .set(bearer(shop.token))
      .send({ amountMinor: 1, currency: 'CNY', captureMethod: 'automatic' });
    expectProblem(noKey, 400, 'IDEMPOTENCY_KEY_REQUIRED');
    const bad = await postOnce(t, '/v1/payment-intents', shop.token, { amountMinor: 1.5, currency: 'CNY', captureMethod: 'automatic' });
    expect(bad.status).toBe(400);
  });

  it('keeps each user’s Idempotency-Keys apart, though one mini-program acts for both', async () => {
    const [adaBefore, bobBefore] = [
      BigInt((await walletOf(t, ada.token)).balanceMinor),
      BigInt((await walletOf(t, bob.token)).balanceMinor),
    ];
    const body = { amountMinor: '321', currency: 'CNY' };
    const first = await postOnce(t, '/v1/wallet/top-ups', ada.token, body, 'top-up-1');
    const replayed = await postOnce(t, '/v1/wallet/top-ups', ada.token, body, 'top-up-1');
    const other = await postOnce(t, '/v1/wallet/top-ups', bob.token, body, 'top-up-1');
    expect([first.status, replayed.status, other.status]).toEqual([201, 201, 201]);
    expect(replayed.headers['idempotent-replayed']).toBe('true');
    expect(replayed.body.id).toBe(first.body.id);
    // Bob's request ran as his own: a new top-up of his wallet, not a replay of Ada's answer.
    expect(other.headers['idempotent-replayed']).toBeUndefined();
    expect(other.body.id).not.toBe(first.body.id);
    expect(BigInt((await walletOf(t, ada.token)).balanceMinor) - adaBefore).toBe(321n);
    expect(BigInt((await walletOf(t, bob.token)).balanceMinor) - bobBefore).toBe(321n);
  });

  it('repays what the user owes before crediting the wallet', async () => {
    const cyd = await payingUser(t, shop, 'cyd@example.com');
    // A debt as a defaulted deposit would leave it: the receivable debited against the credit guarantee.
    const accounts = t.app.get(PaymentAccounts);
    const receivable = await accounts.ensure({ purpose: 'receivable', userId: cyd.id }, 'CNY');
    const guarantee = await accounts.ensure({ purpose: 'credit-guarantee' }, 'CNY');
    const [debt] = await t.app.get(LedgerService).submit([
      {
        type: 'transfer',
        id: uuidv7(),
        debitAccountId: receivable,
        creditAccountId: guarantee,
        amount: 3000n,
        currency: 'CNY',
        code: 'deposit_claim',
      },
    ]);
    expect(debt?.ok).toBe(true);
    expect(await t.app.get(WalletService).outstandingReceivable(cyd.id, 'CNY')).toBe(3000n);
    const partly = await topUp(t, cyd.token, '1000');
    expect(partly.body).toMatchObject({ amountMinor: '1000', repaidMinor: '1000', creditedMinor: '0' });
    expect(await walletOf(t, cyd.token)).toMatchObject({ balanceMinor: '0', owedMinor: '2000' });
    const rest = await topUp(t, cyd.token, '5000');
    expect(rest.body).toMatchObject({ repaidMinor: '2000', creditedMinor: '3000' });
    expect(await walletOf(t, cyd.token)).toMatchObject({ balanceMinor: '3000', owedMinor: '0' });
    expect(await t.app.get(WalletService).outstandingReceivable(cyd.id, 'CNY')).toBe(0n);
  });

  it('leaves neither the status nor the transfers when the transaction fails after the ledger wrote', async () => {
    const intent = await createIntent(t, shop.token, { amountMinor: 10 });
    // The outbox insert is the last write of a confirmation: make it fail, after the ledger's writes in the same transaction.
    await t.dataSource.query(
      `CREATE FUNCTION test_refuse_event() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'simulated crash'; END $$`,
    );
    await t.dataSource.query(
      'CREATE TRIGGER test_refuse_event BEFORE INSERT ON webhook_events FOR EACH ROW EXECUTE FUNCTION test_refuse_event()',
    );
    try {
      const failed = await postOnce(t, `/v1/payment-intents/${intent.id}/confirm`, bob.token, {}, 'crash-key');
      expect(failed.status).toBe(500);
      const transfers: unknown[] = await t.dataSource.query('SELECT id FROM ledger_transfers WHERE id = $1', [
        intentTransferId(intent.id, 'charge'),
      ]);
      expect(transfers).toEqual([]);
      expect((await t.http().get(`/v1/payment-intents/${intent.id}`).set(bearer(shop.token))).body.status).toBe('requires_confirmation');
    } finally {
      await t.dataSource.query('DROP TRIGGER test_refuse_event ON webhook_events');
      await t.dataSource.query('DROP FUNCTION test_refuse_event()');
    }
    const retried = await postOnce(t, `/v1/payment-intents/${intent.id}/confirm`, bob.token, {}, 'crash-key');
    expect(retried.status).toBe(200);
    expect(retried.body.status).toBe('succeeded');
  });

  it('shows one merchant’s mini-program the wallet without another merchant’s payment identifiers', async () => {
    const carol = await payingUser(t, shop, 'carol@example.com');
    const carolAtRival = await userTokenAt(t, rival, carol);
    await topUp(t, carol.token, '1000');
    const atShop = await createIntent(t, shop.token, { amountMinor: 100 });
    const atRival = await createIntent(t, rival.token, { amountMinor: 200 });
    expect((await postAndRetry(t, `/v1/payment-intents/${atShop.id}/confirm`, carol.token)).status).toBe(200);
    expect((await postAndRetry(t, `/v1/payment-intents/${atRival.id}/confirm`, carolAtRival)).status).toBe(200);
    const payments = (wallet: Awaited<ReturnType<typeof walletOf>>) =>
      wallet.recentEntries.filter((entry) => entry.code === 'payment').map((entry) => [entry.amountMinor, entry.paymentIntentId]);
    // The balance is the user's, whoever shows it; which intent paid another merchant is not.
    expect(payments(await walletOf(t, carol.token))).toEqual([
      ['200', null],
      ['100', atShop.id],
    ]);
    expect(payments(await walletOf(t, carolAtRival))).toEqual([
      ['200', atRival.id],
      ['100', null],
    ]);
    expect(await walletOf(t, carolAtRival)).toMatchObject({ balanceMinor: '700' });
  });
});
