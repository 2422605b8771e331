import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AuditService } from '../../src/audit/audit.service.js';
import { ManualClock } from '../../src/common/clock/clock.js';
import { LedgerService } from '../../src/ledger/ledger.service.js';
import type { Account } from '../../src/ledger/ledger.types.js';
import { PostingEngine } from '../../src/ledger/posting-engine.js';
import { errorCode, okTransfer, transferCommand as transfer } from '../support/ledger-commands.js';
import { expectLedgerInvariants } from '../support/ledger-invariants.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

// The batcher writes a batch of new transfers over accounts it remembers in one statement, without
// locking first. These tests move those accounts behind its back (a second engine on the same
// database, as a second app instance would; an account closed through the service; an id written
// before) and check that every such batch falls back to the locking path and gets the answer the
// locked rows give, never one made from a stale memory.
describe('the posting engine, writing from remembered accounts', () => {
  let t: TestApp;
  let ledger: LedgerService;
  let engine: PostingEngine;
  let otherInstance: PostingEngine;
  const clock = new ManualClock('2026-05-02T10:00:00.000Z');
  let seq = 0;
  const open = async (kind: string, flags: { debitsMustNotExceedCredits?: boolean } = {}) =>
    (await ledger.openAccount({ code: `${kind}:${(seq += 1)}:remembered`, currency: 'CNY', ...flags })).account;
  const submit = async (on: PostingEngine, command: ReturnType<typeof transfer>) =>
    (await on.submit({ commands: [command], linked: false }))[0];
  const balances = async (account: Account) => {
    const found = await ledger.findAccount(account.id);
    // Numbers, not bigints: jest cannot report a failing comparison of bigints across its workers.
    return found === null
      ? null
      : { debitsPosted: Number(found.debitsPosted), creditsPosted: Number(found.creditsPosted), headSeq: Number(found.headSeq) };
  };

  beforeAll(async () => {
    t = await startTestApp({ clock });
    ledger = t.app.get(LedgerService);
    engine = t.app.get(PostingEngine);
    otherInstance = new PostingEngine(t.dataSource, clock, new AuditService(t.dataSource, clock));
  });
  afterAll(async () => {
    await otherInstance.onApplicationShutdown();
    await expectLedgerInvariants(t.dataSource);
    await t.close();
  });

  it('writes a batch over remembered accounts in one statement once the locking path has seen them', async () => {
    const funding = await open('external');
    const wallet = await open('user', { debitsMustNotExceedCredits: true });
    const before = { ...engine.writes };
    okTransfer(await submit(engine, transfer(funding, wallet, 1_000n)));
    expect(engine.writes.locking - before.locking).toBe(1);
    okTransfer(await submit(engine, transfer(funding, wallet, 500n)));
    okTransfer(await submit(engine, transfer(funding, wallet, 250n)));
    expect(engine.writes.fromRemembered - before.fromRemembered).toBe(2);
    expect(engine.writes.rememberedMoved - before.rememberedMoved).toBe(0);
    expect(await balances(wallet)).toEqual({ debitsPosted: 0, creditsPosted: 1_750, headSeq: 3 });
    await expectLedgerInvariants(t.dataSource);
  });

  it('refuses an overdraft that only a stale memory would allow: another instance spent the money meanwhile', async () => {
    const funding = await open('external');
    const wallet = await open('user', { debitsMustNotExceedCredits: true });
    const merchant = await open('merchant');
    okTransfer(await submit(engine, transfer(funding, wallet, 100n)));
    okTransfer(await submit(engine, transfer(wallet, merchant, 60n)));
    // The other instance spends 30 of the 40 left; this engine still remembers 40.
    okTransfer(await submit(otherInstance, transfer(wallet, merchant, 30n)));
    const before = { ...engine.writes };
    expect(errorCode(await submit(engine, transfer(wallet, merchant, 20n)))).toBe('EXCEEDS_CREDITS');
    expect(engine.writes.rememberedMoved - before.rememberedMoved).toBe(1);
    expect(engine.writes.locking - before.locking).toBe(1);
    expect(await balances(wallet)).toEqual({ debitsPosted: 90, creditsPosted: 100, headSeq: 3 });
    // Refreshed by the locking path, the memory is current again: the last 10 go in one statement.
    okTransfer(await submit(engine, transfer(wallet, merchant, 10n)));
    expect(engine.writes.fromRemembered - before.fromRemembered).toBe(1);
    expect(await balances(merchant)).toEqual({ debitsPosted: 0, creditsPosted: 100, headSeq: 3 });
    await expectLedgerInvariants(t.dataSource);
  });

  it('refuses a transfer into an account closed since it was remembered (closing moves no head)', async () => {
    const funding = await open('external');
    const merchant = await open('merchant');
    okTransfer(await submit(engine, transfer(funding, merchant, 100n)));
    okTransfer(await submit(engine, transfer(funding, merchant, 100n)));
    await ledger.closeAccount(merchant.id);
    const before = { ...engine.writes };
    expect(errorCode(await submit(engine, transfer(funding, merchant, 100n)))).toBe('ACCOUNT_CLOSED');
    expect(engine.writes.rememberedMoved - before.rememberedMoved).toBe(1);
    expect(await balances(merchant)).toEqual({ debitsPosted: 0, creditsPosted: 200, headSeq: 2 });
  });

  it('answers a retried id with the first result, not a second transfer', async () => {
    const funding = await open('external');
    const merchant = await open('merchant');
    okTransfer(await submit(engine, transfer(funding, merchant, 100n)));
    const first = transfer(funding, merchant, 42n);
    expect(okTransfer(await submit(engine, first)).id).toBe(first.id);
    const before = { ...engine.writes };
    const again = await submit(engine, first);
    expect(again).toMatchObject({ ok: true, replayed: true });
    expect(engine.writes.rememberedMoved - before.rememberedMoved).toBe(1);
    expect(errorCode(await submit(engine, { ...first, amount: 43n }))).toBe('TRANSFER_EXISTS_WITH_DIFFERENT_FIELDS');
    expect(await balances(merchant)).toEqual({ debitsPosted: 0, creditsPosted: 142, headSeq: 2 });
  });

  it('keeps two instances writing the same accounts at once consistent', async () => {
    const funding = await open('external');
    const wallet = await open('user', { debitsMustNotExceedCredits: true });
    const merchant = await open('merchant');
    okTransfer(await submit(engine, transfer(funding, wallet, 1_000n)));
    okTransfer(await submit(otherInstance, transfer(funding, wallet, 1_000n)));
    // 2,000 in the wallet; 300 tries of 10 from both instances at once: exactly 200 succeed.
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, index) => submit(index % 2 === 0 ? engine : otherInstance, transfer(wallet, merchant, 10n))),
    );
    expect(results.filter((result) => result?.ok === true)).toHaveLength(200);
    expect(results.filter((result) => errorCode(result) === 'EXCEEDS_CREDITS')).toHaveLength(100);
    expect(await balances(wallet)).toEqual({ debitsPosted: 2_000, creditsPosted: 2_000, headSeq: 202 });
    await expectLedgerInvariants(t.dataSource);
  });
});
