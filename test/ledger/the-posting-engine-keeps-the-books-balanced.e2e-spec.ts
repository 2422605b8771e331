import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { v7 as uuidv7 } from 'uuid';
import { ManualClock } from '../../src/common/clock/clock.js';
import { LedgerService } from '../../src/ledger/ledger.service.js';
import type { Account, LedgerCommand } from '../../src/ledger/ledger.types.js';
import { errorCode, okTransfer, transferCommand } from '../support/ledger-commands.js';
import { expectLedgerInvariants } from '../support/ledger-invariants.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { testServerUrl } from '../support/test-database.js';

const transfer = transferCommand;

describe('the posting engine', () => {
  let t: TestApp;
  let ledger: LedgerService;
  const clock = new ManualClock('2026-05-01T10:00:00.000Z');
  let seq = 0;
  const open = async (kind: string, flags: { debitsMustNotExceedCredits?: boolean; creditsMustNotExceedDebits?: boolean } = {}) =>
    (await ledger.openAccount({ code: `${kind}:${(seq += 1)}:test`, currency: 'CNY', ...flags })).account;
  const balances = async (account: Account) => {
    const found = await ledger.findAccount(account.id);
    if (found === null) throw new Error('account vanished');
    return {
      debitsPending: found.debitsPending,
      debitsPosted: found.debitsPosted,
      creditsPending: found.creditsPending,
      creditsPosted: found.creditsPosted,
    };
  };
  const submit = (commands: LedgerCommand[], linked = false) => ledger.submit(commands, { linked });

  beforeAll(async () => {
    t = await startTestApp({ clock });
    ledger = t.app.get(LedgerService);
  });
  afterAll(async () => {
    await expectLedgerInvariants(t.dataSource);
    await t.close();
  });

  it('moves money with one debit and one credit, and refuses to overdraw a flagged account', async () => {
    const funding = await open('external');
    const wallet = await open('user', { debitsMustNotExceedCredits: true });
    const merchant = await open('merchant');
    okTransfer((await submit([transfer(funding, wallet, 10_000n)]))[0]);
    okTransfer((await submit([transfer(wallet, merchant, 9_900n)]))[0]);
    expect(errorCode((await submit([transfer(wallet, merchant, 101n)]))[0])).toBe('EXCEEDS_CREDITS');
    expect(await balances(wallet)).toEqual({ debitsPending: 0n, debitsPosted: 9_900n, creditsPending: 0n, creditsPosted: 10_000n });
    expect(await balances(merchant)).toEqual({ debitsPending: 0n, debitsPosted: 0n, creditsPending: 0n, creditsPosted: 9_900n });
    await expectLedgerInvariants(t.dataSource);
  });

  it('reserves with a pending transfer, posts part of it and releases the rest, exactly once', async () => {
    const funding = await open('external');
    const wallet = await open('user', { debitsMustNotExceedCredits: true });
    const escrow = await open('platform');
    okTransfer((await submit([transfer(funding, wallet, 1_000n)]))[0]);
    const hold = okTransfer((await submit([transfer(wallet, escrow, 700n, { pending: true })]))[0]);
    expect(hold.status).toBe('pending');
    // The reservation counts against the limit.
    expect(errorCode((await submit([transfer(wallet, escrow, 301n)]))[0])).toBe('EXCEEDS_CREDITS');
    const post = okTransfer((await submit([{ type: 'resolve', id: uuidv7(), pendingId: hold.id, action: 'post', amount: 400n }]))[0]);
    expect(post).toMatchObject({ kind: 'post_pending', amount: 400n, pendingId: hold.id });
    expect(await balances(wallet)).toEqual({ debitsPending: 0n, debitsPosted: 400n, creditsPending: 0n, creditsPosted: 1_000n });
    expect(await balances(escrow)).toEqual({ debitsPending: 0n, debitsPosted: 0n, creditsPending: 0n, creditsPosted: 400n });
    const again = (await submit([{ type: 'resolve', id: uuidv7(), pendingId: hold.id, action: 'void' }]))[0];
    expect(errorCode(again)).toBe('PENDING_TRANSFER_ALREADY_RESOLVED');
    const stored: { status: string; resolved_by: string }[] = await t.dataSource.query(
      'SELECT status, resolved_by FROM ledger_transfers WHERE id = $1',
      [hold.id],
    );
    expect(stored).toEqual([{ status: 'posted', resolved_by: post.id }]);
  });

  it('voids, refuses to post more than reserved, and expires only after the timeout', async () => {
    const funding = await open('external');
    const wallet = await open('user', { debitsMustNotExceedCredits: true });
    const escrow = await open('platform');
    okTransfer((await submit([transfer(funding, wallet, 500n)]))[0]);
    const first = okTransfer((await submit([transfer(wallet, escrow, 200n, { pending: true })]))[0]);
    expect(errorCode((await submit([{ type: 'resolve', id: uuidv7(), pendingId: first.id, action: 'post', amount: 201n }]))[0])).toBe(
      'AMOUNT_EXCEEDS_PENDING',
    );
    okTransfer((await submit([{ type: 'resolve', id: uuidv7(), pendingId: first.id, action: 'void' }]))[0]);
    const timed = okTransfer((await submit([transfer(wallet, escrow, 300n, { pending: true, timeoutSeconds: 60 })]))[0]);
    expect(errorCode((await submit([{ type: 'resolve', id: uuidv7(), pendingId: timed.id, action: 'expire' }]))[0])).toBe(
      'PENDING_TRANSFER_NOT_DUE',
    );
    clock.advance(60_000);
    expect(errorCode((await submit([{ type: 'resolve', id: uuidv7(), pendingId: timed.id, action: 'post' }]))[0])).toBe(
      'PENDING_TRANSFER_EXPIRED',
    );
    okTransfer((await submit([{ type: 'resolve', id: uuidv7(), pendingId: timed.id, action: 'expire' }]))[0]);
    expect(await balances(wallet)).toEqual({ debitsPending: 0n, debitsPosted: 0n, creditsPending: 0n, creditsPosted: 500n });
  });

  it('returns the first result for a retried id, and names the field when a retry differs', async () => {
    const funding = await open('external');
    const wallet = await open('user');
    const command = transfer(funding, wallet, 250n, { metadata: { orderId: 'A-1', items: [1, 2] } });
    const first = okTransfer((await submit([command]))[0]);
    const retried = (await submit([{ ...command, metadata: { items: [1, 2], orderId: 'A-1' } }]))[0];
    expect(retried).toMatchObject({ ok: true, replayed: true, transfer: { id: first.id, amount: 250n } });
    const different = (await submit([{ ...command, amount: 251n }]))[0];
    expect(different?.ok).toBe(false);
    expect(different?.ok === false && different.error.extensions).toMatchObject({ field: 'amount', transferId: command.id });
    expect(errorCode((await submit([{ ...command, code: 'other' }]))[0])).toBe('TRANSFER_EXISTS_WITH_DIFFERENT_FIELDS');
    expect(await balances(wallet)).toMatchObject({ creditsPosted: 250n });
  });

  it('applies linked transfers all or nothing, naming the one that failed', async () => {
    const funding = await open('external');
    const wallet = await open('user', { debitsMustNotExceedCredits: true });
    const merchant = await open('merchant');
    const fees = await open('platform');
    okTransfer((await submit([transfer(funding, wallet, 100n)]))[0]);
    const good = transfer(wallet, merchant, 90n);
    const tooMuch = transfer(wallet, fees, 20n);
    const results = await submit([good, tooMuch], true);
    expect(errorCode(results[1])).toBe('EXCEEDS_CREDITS');
    expect(errorCode(results[0])).toBe('LINKED_TRANSFER_FAILED');
    expect(results[0]?.ok === false && results[0].error.extensions).toMatchObject({ failedTransferId: tooMuch.id });
    expect(await balances(merchant)).toMatchObject({ creditsPosted: 0n });
    const fits = await submit([transfer(wallet, merchant, 90n), transfer(wallet, fees, 10n)], true);
    expect(fits.every((result) => result.ok)).toBe(true);
    expect(await balances(wallet)).toMatchObject({ debitsPosted: 100n, creditsPosted: 100n });
  });

  it('refuses what cannot be: same accounts, another currency, a missing or closed account', async () => {
    const a = await open('external');
    const usd = (await ledger.openAccount({ code: `merchant:${(seq += 1)}:usd`, currency: 'USD' })).account;
    expect(errorCode((await submit([transfer(a, a, 1n)]))[0])).toBe('ACCOUNTS_MUST_DIFFER');
    expect(errorCode((await submit([transfer(a, usd, 1n)]))[0])).toBe('CURRENCY_MISMATCH');
    expect(errorCode((await submit([{ ...transfer(a, usd, 1n), creditAccountId: uuidv7() }]))[0])).toBe('ACCOUNT_NOT_FOUND');
    expect(errorCode((await submit([{ ...transfer(a, usd, 1n), amount: 0n }]))[0])).toBe('INVALID_COMMAND');
  });

  it('settles hundreds of concurrent transfers over a few accounts exactly, some failing for limits', async () => {
    const funding = await open('external');
    const wallets = [await open('user', { debitsMustNotExceedCredits: true }), await open('user', { debitsMustNotExceedCredits: true })];
    const merchant = await open('merchant');
    for (const wallet of wallets) okTransfer((await submit([transfer(funding, wallet, 5_000n)]))[0]);
    // 400 payments of 30 from two wallets holding 5,000 each: exactly 166 fit in each wallet.
    const attempts = Array.from({ length: 400 }, (_, index) => submit([transfer(wallets[index % 2]!, merchant, 30n)]));
    const results = (await Promise.all(attempts)).map((result) => result[0]);
    const succeeded = results.filter((result) => result?.ok).length;
    const refused = results.filter((result) => errorCode(result) === 'EXCEEDS_CREDITS').length;
    expect(succeeded).toBe(2 * 166);
    expect(refused).toBe(400 - 2 * 166);
    expect(await balances(merchant)).toMatchObject({ creditsPosted: BigInt(2 * 166 * 30) });
    await expectLedgerInvariants(t.dataSource);
  });

  it('keeps its tables append-only in the database itself', async () => {
    await expect(t.dataSource.query('UPDATE ledger_entries SET posted_delta = posted_delta + 1')).rejects.toThrow(/append-only/);
    await expect(t.dataSource.query('DELETE FROM ledger_transfers')).rejects.toThrow(/append-only/);
    await expect(t.dataSource.query("UPDATE ledger_transfers SET amount = amount + 1 WHERE kind = 'single'")).rejects.toThrow(
      /never changes/,
    );
    await expect(t.dataSource.query('UPDATE ledger_accounts SET credits_posted = credits_posted + 1')).rejects.toThrow(
      /only with a new entry/,
    );
    await expect(t.dataSource.query('TRUNCATE ledger_entries CASCADE')).rejects.toThrow(/append-only/);
  });
});

const onServer = testServerUrl() === undefined ? describe.skip : describe;
onServer('two instances on one database', () => {
  let first: TestApp;
  let second: TestApp;
  beforeAll(async () => {
    first = await startTestApp();
    second = await startTestApp({ shareDatabaseWith: first });
  });
  afterAll(async () => {
    await expectLedgerInvariants(first.dataSource);
    await second.close();
    await first.close();
  });

  it('settle concurrent transfers on the same accounts exactly, and close accounts to new transfers', async () => {
    const [a, b] = [first.app.get(LedgerService), second.app.get(LedgerService)] as const;
    const funding = (await a.openAccount({ code: 'external:shared:CNY', currency: 'CNY' })).account;
    const wallet = (await b.openAccount({ code: 'user:shared:wallet', currency: 'CNY', debitsMustNotExceedCredits: true })).account;
    const shop = (await a.openAccount({ code: 'merchant:shared:available', currency: 'CNY' })).account;
    okTransfer((await a.submit([transfer(funding, wallet, 3_000n)]))[0]);
    // 300 payments of 20 through both instances at once: exactly 150 fit.
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, index) => (index % 2 === 0 ? a : b).submit([transfer(wallet, shop, 20n)])),
    );
    expect(results.filter(([result]) => result?.ok).length).toBe(150);
    expect(results.filter(([result]) => errorCode(result) === 'EXCEEDS_CREDITS').length).toBe(150);
    // The same id sent through both instances at once is applied once.
    const twice = transfer(funding, wallet, 7n);
    const [viaA, viaB] = await Promise.all([a.submit([twice]), b.submit([twice])]);
    expect([viaA[0]?.ok, viaB[0]?.ok]).toEqual([true, true]);
    expect([viaA[0], viaB[0]].filter((result) => result?.ok && result.replayed)).toHaveLength(1);
    const closed = await b.closeAccount(shop.id);
    expect(closed?.closedAt).not.toBeNull();
    expect(errorCode((await a.submit([transfer(wallet, shop, 1n)]))[0])).toBe('ACCOUNT_CLOSED');
    const account = await a.findAccount(wallet.id);
    expect(account).toMatchObject({ debitsPosted: 3_000n, creditsPosted: 3_007n });
  });
});
