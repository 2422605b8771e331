import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { v7 as uuidv7 } from 'uuid';
import { ManualClock } from '../../src/common/clock/clock.js';
import { ExpirySweeper } from '../../src/ledger/expiry-sweeper.js';
import { expectLedgerInvariants } from '../support/ledger-invariants.js';
import { clientCredentialsToken, createConfidentialClient, createMerchant } from '../support/oauth.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

const PLATFORM = { PLATFORM_CLIENT_ID: 'platform_ledgerapi01', PLATFORM_CLIENT_SECRET: 'a-platform-secret-for-the-ledger-api-tests' };

describe('the ledger API', () => {
  let t: TestApp;
  let platform: string;
  let compliance: string;
  let merchant: string;
  const clock = new ManualClock('2026-06-01T09:00:00.000Z');
  const as = (token: string) => ({ Authorization: `Bearer ${token}` });
  const openAccount = async (code: string, flags: Record<string, boolean> = {}) => {
    const response = await t
      .http()
      .post('/v1/ledger/accounts')
      .set(as(platform))
      .send({ code, currency: 'CNY', ...flags });
    expect(response.status).toBe(201);
    return response.body as { id: string; code: string };
  };
  const transfers = (body: object) => t.http().post('/v1/ledger/transfers').set(as(platform)).send(body);

  beforeAll(async () => {
    t = await startTestApp({ env: PLATFORM, clock });
    platform = await clientCredentialsToken(t, PLATFORM.PLATFORM_CLIENT_ID, PLATFORM.PLATFORM_CLIENT_SECRET, 'ledger:write');
    const auditor = await createConfidentialClient(t, 'compliance', null);
    compliance = await clientCredentialsToken(t, auditor.clientId, auditor.clientSecret, 'audit:read');
    const merchantId = await createMerchant(t);
    const backend = await createConfidentialClient(t, 'merchant', merchantId);
    merchant = await clientCredentialsToken(t, backend.clientId, backend.clientSecret, 'merchant:read');
  });
  afterAll(async () => {
    await expectLedgerInvariants(t.dataSource);
    await t.close();
  });

  it('opens accounts idempotently by code, refusing a different account under the same code', async () => {
    const first = await openAccount('external:funding:CNY');
    const again = await t.http().post('/v1/ledger/accounts').set(as(platform)).send({ code: 'external:funding:CNY', currency: 'CNY' });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.id);
    const different = await t.http().post('/v1/ledger/accounts').set(as(platform)).send({ code: 'external:funding:CNY', currency: 'USD' });
    expect(different.status).toBe(409);
    expect(different.body).toMatchObject({ code: 'ACCOUNT_CODE_TAKEN', field: 'currency' });
  });

  it('moves money in a batch with a result for each transfer, amounts as strings', async () => {
    const funding = await openAccount('external:bank:CNY');
    const wallet = await openAccount('user:api-1:wallet', { debitsMustNotExceedCredits: true });
    const shop = await openAccount('merchant:api-1:available');
    const fund = {
      id: uuidv7(),
      debitAccountId: funding.id,
      creditAccountId: wallet.id,
      amountMinor: '10000',
      currency: 'CNY',
      code: 'top_up',
    };
    const pay = {
      id: uuidv7(),
      debitAccountId: wallet.id,
      creditAccountId: shop.id,
      amountMinor: 9900,
      currency: 'CNY',
      code: 'payment',
      metadata: { orderId: 'o-1' },
    };
    const overdraw = {
      id: uuidv7(),
      debitAccountId: wallet.id,
      creditAccountId: shop.id,
      amountMinor: 101,
      currency: 'CNY',
      code: 'payment',
    };
    const response = await transfers({ transfers: [fund, pay, overdraw] });
    expect(response.status).toBe(200);
    expect(response.body.results.map((result: { status: string }) => result.status)).toEqual(['created', 'created', 'failed']);
    expect(response.body.results[1].transfer).toMatchObject({
      amountMinor: '9900',
      status: 'posted',
      kind: 'single',
      metadata: { orderId: 'o-1' },
    });
    expect(response.body.results[2].error).toMatchObject({ code: 'EXCEEDS_CREDITS', accountId: wallet.id });
    const audited: { request_id: string; outcome: string; problem_code: string; details: Record<string, unknown>; client_id: string }[] =
      await t.dataSource.query(
        `SELECT request_id, outcome, problem_code, details, client_id FROM audit_events WHERE action = 'ledger.transfers.submitted' AND request_id = $1`,
        [response.headers['x-request-id']],
      );
    expect(audited).toEqual([
      {
        request_id: response.headers['x-request-id'],
        outcome: 'failure',
        problem_code: 'TRANSFERS_REFUSED',
        details: { submitted: 3, created: 2, failed: 1, linked: false },
        client_id: PLATFORM.PLATFORM_CLIENT_ID,
      },
    ]);
    const retried = await transfers({ transfers: [fund] });
    expect(retried.body.results[0].status).toBe('replayed');

    const balance = await t.http().get(`/v1/ledger/accounts/${wallet.id}`).set(as(compliance));
    expect(balance.status).toBe(200);
    expect(balance.body).toMatchObject({ debitsPosted: '9900', creditsPosted: '10000', balanceAvailable: '100', headSeq: '2' });
    const snapshot = await t.http().get(`/v1/ledger/balances?accountIds=${wallet.id},${shop.id}`).set(as(compliance));
    expect(snapshot.body.data.map((account: { code: string; creditsPosted: string }) => [account.code, account.creditsPosted])).toEqual([
      ['merchant:api-1:available', '9900'],
      ['user:api-1:wallet', '10000'],
    ]);
    const entries = await t.http().get(`/v1/ledger/accounts/${wallet.id}/entries?limit=1`).set(as(compliance));
    expect(entries.body.data).toHaveLength(1);
    expect(entries.body.data[0]).toMatchObject({ seq: '1', side: 'credit', postedDelta: '10000', prevHash: '0'.repeat(64) });
    const next = await t
      .http()
      .get(`/v1/ledger/accounts/${wallet.id}/entries?limit=1&cursor=${entries.body.nextCursor}`)
      .set(as(compliance));
    expect(next.body.data[0]).toMatchObject({ seq: '2', side: 'debit', postedDelta: '9900', prevHash: entries.body.data[0].hash });
  });

  it('holds, posts part and releases the rest, once; a retried post replays', async () => {
    const funding = await openAccount('external:bank2:CNY');
    const wallet = await openAccount('user:api-2:wallet', { debitsMustNotExceedCredits: true });
    const escrow = await openAccount('platform:deposit-escrow:CNY');
    await transfers({
      transfers: [
        { id: uuidv7(), debitAccountId: funding.id, creditAccountId: wallet.id, amountMinor: 9900, currency: 'CNY', code: 'top_up' },
      ],
    });
    const holdId = uuidv7();
    const hold = await transfers({
      transfers: [
        {
          id: holdId,
          debitAccountId: wallet.id,
          creditAccountId: escrow.id,
          amountMinor: 9900,
          currency: 'CNY',
          code: 'deposit_hold',
          pending: true,
        },
      ],
    });
    expect(hold.body.results[0].transfer.status).toBe('pending');
    const post = await t.http().post(`/v1/ledger/transfers/${holdId}/post`).set(as(platform)).send({ amountMinor: '5000' });
    expect(post.status).toBe(200);
    expect(post.body).toMatchObject({ kind: 'post_pending', amountMinor: '5000', pendingId: holdId });
    const again = await t.http().post(`/v1/ledger/transfers/${holdId}/post`).set(as(platform)).send({ amountMinor: '5000' });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(post.body.id);
    const voided = await t.http().post(`/v1/ledger/transfers/${holdId}/void`).set(as(platform)).send({});
    expect(voided.status).toBe(409);
    expect(voided.body.code).toBe('PENDING_TRANSFER_ALREADY_RESOLVED');
    const wallet2 = await t.http().get(`/v1/ledger/accounts/${wallet.id}`).set(as(platform));
    expect(wallet2.body).toMatchObject({ debitsPending: '0', debitsPosted: '5000', balanceAvailable: '4900' });
    const pendingNow = await t.http().get(`/v1/ledger/transfers/${holdId}`).set(as(compliance));
    expect(pendingNow.body).toMatchObject({ status: 'posted', resolvedBy: post.body.id });
  });

  it('expires a pending transfer past its timeout, releasing the hold', async () => {
    const funding = await openAccount('external:bank3:CNY');
    const wallet = await openAccount('user:api-3:wallet', { debitsMustNotExceedCredits: true });
    const escrow = await openAccount('platform:escrow-3:CNY');
    await transfers({
      transfers: [
        { id: uuidv7(), debitAccountId: funding.id, creditAccountId: wallet.id, amountMinor: 500, currency: 'CNY', code: 'top_up' },
      ],
    });
    const holdId = uuidv7();
    await transfers({
      transfers: [
        {
          id: holdId,
          debitAccountId: wallet.id,
          creditAccountId: escrow.id,
          amountMinor: 500,
          currency: 'CNY',
          code: 'deposit_hold',
          pending: true,
          timeoutSeconds: 300,
        },
      ],
    });
    const sweeper = t.app.get(ExpirySweeper);
    expect(await sweeper.sweep()).toBe(0);
    clock.advance(300_000);
    // Two sweepers racing (two instances): the transfer expires once.
    const swept = await Promise.all([sweeper.sweep(), sweeper.sweep()]);
    expect(swept.reduce((sum, count) => sum + count, 0)).toBe(1);
    const expired = await t.http().get(`/v1/ledger/transfers/${holdId}`).set(as(compliance));
    expect(expired.body.status).toBe('expired');
    const wallet3 = await t.http().get(`/v1/ledger/accounts/${wallet.id}`).set(as(compliance));
    expect(wallet3.body).toMatchObject({ debitsPending: '0', balanceAvailable: '500' });
    const resolutions: unknown[] = await t.dataSource.query('SELECT id FROM ledger_transfers WHERE pending_id = $1', [holdId]);
    expect(resolutions).toHaveLength(1);
  });

  it('applies a linked batch all or nothing over HTTP', async () => {
    const funding = await openAccount('external:bank4:CNY');
    const wallet = await openAccount('user:api-4:wallet', { debitsMustNotExceedCredits: true });
    const shop = await openAccount('merchant:api-4:available');
    const fees = await openAccount('platform:fees-4:CNY');
    await transfers({
      transfers: [
        { id: uuidv7(), debitAccountId: funding.id, creditAccountId: wallet.id, amountMinor: 100, currency: 'CNY', code: 'top_up' },
      ],
    });
    const failing = uuidv7();
    const response = await transfers({
      linked: true,
      transfers: [
        { id: uuidv7(), debitAccountId: wallet.id, creditAccountId: shop.id, amountMinor: 95, currency: 'CNY', code: 'payment' },
        { id: failing, debitAccountId: wallet.id, creditAccountId: fees.id, amountMinor: 6, currency: 'CNY', code: 'fee' },
      ],
    });
    expect(response.body.results.map((result: { status: string; error?: { code: string } }) => result.error?.code)).toEqual([
      'LINKED_TRANSFER_FAILED',
      'EXCEEDS_CREDITS',
    ]);
    expect(response.body.results[0].error.failedTransferId).toBe(failing);
    const shopNow = await t.http().get(`/v1/ledger/accounts/${shop.id}`).set(as(platform));
    expect(shopNow.body.creditsPosted).toBe('0');
  });

  it('lists transfers by account and status, newest first, page by page', async () => {
    const funding = await openAccount('external:bank5:CNY');
    const wallet = await openAccount('user:api-5:wallet');
    for (let index = 0; index < 5; index += 1) {
      clock.advance(1000);
      await transfers({
        transfers: [
          { id: uuidv7(), debitAccountId: funding.id, creditAccountId: wallet.id, amountMinor: index + 1, currency: 'CNY', code: 'top_up' },
        ],
      });
    }
    const first = await t.http().get(`/v1/ledger/transfers?accountId=${wallet.id}&status=posted&limit=2`).set(as(compliance));
    expect(first.body.data.map((transfer: { amountMinor: string }) => transfer.amountMinor)).toEqual(['5', '4']);
    const second = await t
      .http()
      .get(`/v1/ledger/transfers?accountId=${wallet.id}&status=posted&limit=2&cursor=${first.body.nextCursor}`)
      .set(as(compliance));
    expect(second.body.data.map((transfer: { amountMinor: string }) => transfer.amountMinor)).toEqual(['3', '2']);
    const bad = await t.http().get(`/v1/ledger/transfers?cursor=bm9wZQ`).set(as(compliance));
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('INVALID_CURSOR');
  });

  it('closes an account to new transfers, but not while it has pending amounts', async () => {
    const funding = await openAccount('external:bank6:CNY');
    const wallet = await openAccount('user:api-6:wallet');
    const holdId = uuidv7();
    await transfers({
      transfers: [
        {
          id: holdId,
          debitAccountId: funding.id,
          creditAccountId: wallet.id,
          amountMinor: 10,
          currency: 'CNY',
          code: 'top_up',
          pending: true,
        },
      ],
    });
    const refused = await t.http().post(`/v1/ledger/accounts/${wallet.id}/close`).set(as(platform)).send({});
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('ACCOUNT_HAS_PENDING');
    await t.http().post(`/v1/ledger/transfers/${holdId}/void`).set(as(platform)).send({}).expect(200);
    const closed = await t.http().post(`/v1/ledger/accounts/${wallet.id}/close`).set(as(platform)).send({});
    expect(closed.status).toBe(200);
    expect(closed.body.closedAt).toEqual(expect.any(String));
    const after = await transfers({
      transfers: [
        { id: uuidv7(), debitAccountId: funding.id, creditAccountId: wallet.id, amountMinor: 1, currency: 'CNY', code: 'top_up' },
      ],
    });
    expect(after.body.results[0].error.code).toBe('ACCOUNT_CLOSED');
    const missing = await t.http().post(`/v1/ledger/accounts/${uuidv7()}/close`).set(as(platform)).send({});
    expect(missing.status).toBe(404);
  });

  it('makes checkpoints on demand and verifies the whole ledger for compliance', async () => {
    const made = await t.http().post('/v1/ledger/checkpoints').set(as(platform)).send({});
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ number: '1', prevHash: '0'.repeat(64), merkleRoot: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const second = await t.http().post('/v1/ledger/checkpoints').set(as(platform)).send({});
    expect(second.body).toMatchObject({ number: '2', prevHash: made.body.hash });
    const listed = await t.http().get('/v1/ledger/checkpoints?limit=1').set(as(compliance));
    expect(listed.body.data.map((checkpoint: { number: string }) => checkpoint.number)).toEqual(['2']);
    expect(listed.body.nextCursor).toEqual(expect.any(String));
    const refused = await t.http().post('/v1/ledger/checkpoints').set(as(compliance)).send({});
    expect(refused.status).toBe(403);
    const report = await t.http().post('/v1/ledger/verifications').set(as(compliance)).send({});
    expect(report.status).toBe(200);
    expect(report.body).toMatchObject({ ok: true, problemCount: 0, checkpointsChecked: 2, firstBrokenEntryByAccount: [] });
    expect(report.body.entriesChecked).toBeGreaterThan(10);
    const audited: { action: string }[] = await t.dataSource.query(
      `SELECT action FROM audit_events WHERE action IN ('ledger.verification.run', 'ledger.checkpoint.created')`,
    );
    expect(audited.map((row) => row.action).sort()).toEqual([
      'ledger.checkpoint.created',
      'ledger.checkpoint.created',
      'ledger.verification.run',
    ]);
    const merchantTry = await t.http().post('/v1/ledger/verifications').set(as(merchant)).send({});
    expect(merchantTry.status).toBe(403);
  });

  it('balances every currency in the trial balance', async () => {
    const response = await t.http().get('/v1/ledger/trial-balance').set(as(compliance));
    expect(response.status).toBe(200);
    expect(response.body.balanced).toBe(true);
    const cny = response.body.data.find((row: { currency: string }) => row.currency === 'CNY');
    expect(cny.debitsPosted).toBe(cny.creditsPosted);
  });

  it('lets only ledger:write move money and only ledger:write or audit:read read it', async () => {
    const write = await t.http().post('/v1/ledger/accounts').set(as(compliance)).send({ code: 'user:x:wallet', currency: 'CNY' });
    expect(write.status).toBe(403);
    expect(write.body.code).toBe('INSUFFICIENT_SCOPE');
    const read = await t.http().get('/v1/ledger/trial-balance').set(as(merchant));
    expect(read.status).toBe(403);
    const none = await t.http().get('/v1/ledger/trial-balance');
    expect(none.status).toBe(401);
  });

  it('refuses bad input field by field, never a float amount', async () => {
    const response = await transfers({
      transfers: [
        { id: 'not-a-uuid', debitAccountId: uuidv7(), creditAccountId: uuidv7(), amountMinor: 1.5, currency: 'cny', code: 'Bad Code' },
      ],
    });
    expect(response.status).toBe(400);
    const fields = (response.body.errors as { field: string }[]).map((error) => error.field).sort();
    expect(fields).toEqual(['transfers.0.amountMinor', 'transfers.0.code', 'transfers.0.currency', 'transfers.0.id']);
    const empty = await transfers({ transfers: [] });
    expect(empty.status).toBe(400);
  });
});
