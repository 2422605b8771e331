import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { v7 as uuidv7 } from 'uuid';
import { ManualClock } from '../../src/common/clock/clock.js';
import { type Checkpoint, CheckpointService, PeriodicCheckpointer } from '../../src/ledger/checkpoints.js';
import { GENESIS_HASH } from '../../src/ledger/ledger-hashing.js';
import type { VerificationProblem, VerificationReport } from '../../src/ledger/ledger-verification.js';
import { LedgerVerifier } from '../../src/ledger/ledger-verifier.js';
import { defaultResolutionId, LedgerService } from '../../src/ledger/ledger.service.js';
import type { Account, CommandResult, LedgerCommand, Transfer } from '../../src/ledger/ledger.types.js';
import { okTransfer, transferCommand } from '../support/ledger-commands.js';
import { expectLedgerInvariants } from '../support/ledger-invariants.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

const ok = okTransfer;
const pay = transferCommand;

const text = (value: unknown) => JSON.stringify(value, (_key, member: unknown) => (typeof member === 'bigint' ? `${member}n` : member));

/** Problems without their prose, for exact comparison, sorted so that the order of the walks does not matter. */
function located(problems: readonly Omit<VerificationProblem, 'detail'>[]) {
  return problems
    .map(({ kind, accountId, seq, transferId, checkpointNumber, currency }) =>
      Object.fromEntries(
        Object.entries({ kind, accountId, seq, transferId, checkpointNumber, currency }).filter(([, value]) => value !== undefined),
      ),
    )
    .sort((a, b) => (text(a) < text(b) ? -1 : 1));
}

/**
 * Changes rows as a superuser would, with the ledger's triggers off: `session_replication_role =
 * replica` stops user triggers (and foreign-key checks, which are triggers too) for this transaction
 * only. CHECK constraints still hold. Each statement must change exactly one row.
 */
async function tamper(t: TestApp, ...statements: [string, unknown[]][]): Promise<void> {
  const runner = t.dataSource.createQueryRunner();
  try {
    await runner.startTransaction();
    await runner.query('SET LOCAL session_replication_role = replica');
    for (const [sql, parameters] of statements) {
      const result = await runner.query(sql, parameters, true);
      expect({ sql, affected: result.affected }).toEqual({ sql, affected: 1 });
    }
    await runner.commitTransaction();
  } catch (error) {
    if (runner.isTransactionActive) await runner.rollbackTransaction();
    throw error;
  } finally {
    await runner.release();
  }
}

describe('ledger verification', () => {
  let t: TestApp;
  let ledger: LedgerService;
  let verifier: LedgerVerifier;
  let checkpoints: CheckpointService;
  const clock = new ManualClock('2026-06-01T09:00:00.000Z');
  let accounts: Record<'funding' | 'walletA' | 'walletB' | 'merchant' | 'escrow' | 'fees' | 'idle', Account>;
  let transfers: Record<'payment' | 'hold' | 'post', Transfer>;
  let built = { accounts: 0, entries: 0, transfers: 0 };
  const submit = async (commands: LedgerCommand[], linked = false) => (await ledger.submit(commands, { linked })).map(ok);
  const submitOne = async (command: LedgerCommand) => ok((await ledger.submit([command]))[0]);
  const seqOf = async (account: Account, transfer: Transfer): Promise<bigint> => {
    const rows: { seq: string }[] = await t.dataSource.query('SELECT seq FROM ledger_entries WHERE account_id = $1 AND transfer_id = $2', [
      account.id,
      transfer.id,
    ]);
    expect(rows).toHaveLength(1);
    return BigInt(rows[0]!.seq);
  };
  const counts = async () => {
    const [row]: { accounts: string; entries: string; transfers: string }[] = await t.dataSource.query(
      `SELECT (SELECT count(*) FROM ledger_accounts)::text AS accounts, (SELECT count(*) FROM ledger_entries)::text AS entries,
              (SELECT count(*) FROM ledger_transfers)::text AS transfers`,
    );
    return { accounts: Number(row!.accounts), entries: Number(row!.entries), transfers: Number(row!.transfers) };
  };
  const expectClean = (report: VerificationReport) => {
    expect({ ok: report.ok, problems: report.problems, broken: report.firstBrokenEntryByAccount }).toEqual({
      ok: true,
      problems: [],
      broken: [],
    });
  };

  beforeAll(async () => {
    t = await startTestApp({ clock });
    ledger = t.app.get(LedgerService);
    verifier = t.app.get(LedgerVerifier);
    checkpoints = t.app.get(CheckpointService);
    const before = await counts();
    const open = async (code: string, flags: { debitsMustNotExceedCredits?: boolean } = {}) =>
      (await ledger.openAccount({ code, currency: 'CNY', ...flags })).account;
    accounts = {
      funding: await open('external:funding:CNY'),
      walletA: await open('user:tamper-a:wallet', { debitsMustNotExceedCredits: true }),
      walletB: await open('user:tamper-b:wallet', { debitsMustNotExceedCredits: true }),
      merchant: await open('merchant:tamper:available'),
      escrow: await open('platform:deposit-escrow:CNY'),
      fees: await open('platform:fees:CNY'),
      idle: await open('platform:idle:CNY'),
    };
    const { funding, walletA, walletB, merchant, escrow, fees } = accounts;
    await submit([pay(funding, walletA, 10_000n), pay(funding, walletB, 5_000n)]);
    const payment = await submitOne(pay(walletA, merchant, 1_200n));
    const hold = await submitOne(pay(walletA, escrow, 700n, { pending: true }));
    const post = await submitOne({ type: 'resolve', id: uuidv7(), pendingId: hold.id, action: 'post', amount: 400n });
    transfers = { payment, hold, post };
    // Checkpoint 1 commits heads in the middle of the chains that grow below.
    await checkpoints.create();
    const voided = await submitOne(pay(walletB, escrow, 300n, { pending: true }));
    await submitOne({ type: 'resolve', id: uuidv7(), pendingId: voided.id, action: 'void' });
    const timed = await submitOne(pay(walletB, escrow, 200n, { pending: true, timeoutSeconds: 60 }));
    clock.advance(61_000);
    // The sweeper may expire it first, under this same id: then this is its replay.
    await submitOne({ type: 'resolve', id: defaultResolutionId(timed.id, 'expire'), pendingId: timed.id, action: 'expire' });
    await submit([pay(walletA, fees, 50n), pay(walletB, fees, 50n)], true);
    await checkpoints.create();
    const after = await counts();
    built = {
      accounts: after.accounts - before.accounts,
      entries: after.entries - before.entries,
      transfers: after.transfers - before.transfers,
    };
  });
  afterAll(async () => {
    await expectLedgerInvariants(t.dataSource);
    await t.close();
  });

  it('finds nothing wrong with a ledger built through the engine, and counts what it checked', async () => {
    expect(built).toEqual({ accounts: 7, entries: 22, transfers: 11 });
    const total = await counts();
    const report = await verifier.verify();
    expectClean(report);
    expect(report).toMatchObject({
      accountsChecked: total.accounts,
      entriesChecked: total.entries,
      transfersChecked: total.transfers,
      checkpointsChecked: 2,
      problemCount: 0,
      problemsOmitted: 0,
      brokenAccountsOmitted: 0,
    });
    expect(report.finishedAt.getTime()).toBeGreaterThanOrEqual(report.startedAt.getTime());
    expect(report.durationMs).toBeGreaterThanOrEqual(0);
    await expectLedgerInvariants(t.dataSource);
  });

  it('gives the same answer whatever the page size, pages exactly full included', async () => {
    const reference = await verifier.verify();
    for (const pageSize of [1, 2, 3, 7, 11, 22]) {
      const report = await verifier.verify({ pageSize });
      expectClean(report);
      expect({ pageSize, ...report, startedAt: 0, finishedAt: 0, durationMs: 0 }).toEqual({
        pageSize,
        ...reference,
        startedAt: 0,
        finishedAt: 0,
        durationMs: 0,
      });
    }
    await expect(verifier.verify({ pageSize: 0 })).rejects.toMatchObject({ code: 'INVALID_COMMAND' });
    await expect(verifier.verify({ pageSize: 10_001 })).rejects.toMatchObject({ code: 'INVALID_COMMAND' });
  });

  it('names the entry whose posted_delta was changed, at its account and seq, and nothing else', async () => {
    const { walletA } = accounts;
    const seq = await seqOf(walletA, transfers.payment);
    const entry = 'UPDATE ledger_entries SET posted_delta = posted_delta + $3 WHERE account_id = $1 AND seq = $2';
    await tamper(t, [entry, [walletA.id, seq.toString(), 1]]);
    const report = await verifier.verify();
    const at = { accountId: walletA.id, seq, transferId: transfers.payment.id };
    expect(report.ok).toBe(false);
    expect(located(report.problems)).toEqual(
      located([
        { kind: 'ENTRY_HASH_MISMATCH', ...at },
        { kind: 'BALANCE_MISMATCH', ...at },
        { kind: 'TRANSFER_ENTRIES_MISMATCH', ...at },
      ]),
    );
    expect(report.firstBrokenEntryByAccount).toEqual([
      {
        accountId: walletA.id,
        accountCode: walletA.code,
        seq,
        reason: 'ENTRY_HASH_MISMATCH',
        detail: expect.any(String),
        laterBrokenEntries: 0,
      },
    ]);
    await tamper(t, [entry, [walletA.id, seq.toString(), -1]]);
    expectClean(await verifier.verify());
  });

  it('names a transfer whose amount was changed, at both of its entries', async () => {
    const { walletA, merchant } = accounts;
    const payment = transfers.payment;
    const change = 'UPDATE ledger_transfers SET amount = amount + $2 WHERE id = $1';
    await tamper(t, [change, [payment.id, 1]]);
    const report = await verifier.verify();
    const debit = { accountId: walletA.id, seq: await seqOf(walletA, payment), transferId: payment.id };
    const credit = { accountId: merchant.id, seq: await seqOf(merchant, payment), transferId: payment.id };
    expect(located(report.problems)).toEqual(
      located([
        { kind: 'ENTRY_HASH_MISMATCH', ...debit },
        { kind: 'TRANSFER_ENTRIES_MISMATCH', ...debit },
        { kind: 'ENTRY_HASH_MISMATCH', ...credit },
        { kind: 'TRANSFER_ENTRIES_MISMATCH', ...credit },
      ]),
    );
    expect(located(report.firstBrokenEntryByAccount.map(({ accountId, seq, reason }) => ({ accountId, seq, kind: reason })))).toEqual(
      located([
        { kind: 'ENTRY_HASH_MISMATCH', accountId: debit.accountId, seq: debit.seq },
        { kind: 'ENTRY_HASH_MISMATCH', accountId: credit.accountId, seq: credit.seq },
      ]),
    );
    await tamper(t, [change, [payment.id, -1]]);
    expectClean(await verifier.verify());
  });

  it('names an account whose stored balance was changed, and the currency it unbalances, but no entry', async () => {
    const { merchant } = accounts;
    const change = 'UPDATE ledger_accounts SET credits_posted = credits_posted + $2 WHERE id = $1';
    await tamper(t, [change, [merchant.id, 1]]);
    const report = await verifier.verify();
    expect(located(report.problems)).toEqual(
      located([
        { kind: 'BALANCE_MISMATCH', accountId: merchant.id },
        { kind: 'CURRENCY_UNBALANCED', currency: 'CNY' },
      ]),
    );
    expect(report.firstBrokenEntryByAccount).toEqual([]);
    await tamper(t, [change, [merchant.id, -1]]);
    expectClean(await verifier.verify());
  });

  it('names a checkpoint whose Merkle root was changed, and the hash that no longer covers it', async () => {
    const [stored]: { merkle_root: string }[] = await t.dataSource.query('SELECT merkle_root FROM ledger_checkpoints WHERE number = 1');
    const change = 'UPDATE ledger_checkpoints SET merkle_root = $2 WHERE number = $1';
    await tamper(t, [change, [1, 'e'.repeat(64)]]);
    const report = await verifier.verify();
    expect(located(report.problems)).toEqual(
      located([
        { kind: 'CHECKPOINT_ROOT_MISMATCH', checkpointNumber: 1n },
        { kind: 'CHECKPOINT_CHAIN_BROKEN', checkpointNumber: 1n },
      ]),
    );
    expect(report.firstBrokenEntryByAccount).toEqual([]);
    await tamper(t, [change, [1, stored!.merkle_root]]);
    expectClean(await verifier.verify());
  });

  it('names an entry whose hash was changed, counts the link it breaks after it, and the checkpoint that committed to it', async () => {
    const { walletA } = accounts;
    // The post was walletA's head when checkpoint 1 was made; walletA's chain went on after it.
    const seq = await seqOf(walletA, transfers.post);
    const [head]: { seq: string }[] = await t.dataSource.query(
      'SELECT seq FROM ledger_checkpoint_heads WHERE checkpoint_number = 1 AND account_id = $1',
      [walletA.id],
    );
    expect(BigInt(head!.seq)).toBe(seq);
    const [stored]: { hash: string }[] = await t.dataSource.query('SELECT hash FROM ledger_entries WHERE account_id = $1 AND seq = $2', [
      walletA.id,
      seq.toString(),
    ]);
    const change = 'UPDATE ledger_entries SET hash = $3 WHERE account_id = $1 AND seq = $2';
    await tamper(t, [change, [walletA.id, seq.toString(), 'f'.repeat(64)]]);
    const report = await verifier.verify();
    expect(located(report.problems)).toEqual(
      located([
        { kind: 'ENTRY_HASH_MISMATCH', accountId: walletA.id, seq, transferId: transfers.post.id },
        { kind: 'CHECKPOINT_HEAD_MISMATCH', checkpointNumber: 1n, accountId: walletA.id, seq },
      ]),
    );
    // The next entry's prev_hash no longer links: counted, not listed again.
    expect(report.firstBrokenEntryByAccount).toEqual([
      {
        accountId: walletA.id,
        accountCode: walletA.code,
        seq,
        reason: 'ENTRY_HASH_MISMATCH',
        detail: expect.any(String),
        laterBrokenEntries: 1,
      },
    ]);
    await tamper(t, [change, [walletA.id, seq.toString(), stored!.hash]]);
    expectClean(await verifier.verify());
  });

  it('names a deleted entry by its seq, the transfer left with one entry, and the checkpoints that committed to it', async () => {
    const { merchant } = accounts;
    const seq = await seqOf(merchant, transfers.payment);
    const [saved]: { row: Record<string, unknown> }[] = await t.dataSource.query(
      'SELECT to_jsonb(e) AS row FROM ledger_entries e WHERE account_id = $1 AND seq = $2',
      [merchant.id, seq.toString()],
    );
    await tamper(t, ['DELETE FROM ledger_entries WHERE account_id = $1 AND seq = $2', [merchant.id, seq.toString()]]);
    const report = await verifier.verify();
    expect(located(report.problems)).toEqual(
      located([
        { kind: 'SEQ_GAP', accountId: merchant.id, seq },
        { kind: 'BALANCE_MISMATCH', accountId: merchant.id },
        { kind: 'TRANSFER_ENTRIES_MISMATCH', transferId: transfers.payment.id },
        { kind: 'CHECKPOINT_HEAD_MISMATCH', checkpointNumber: 1n, accountId: merchant.id, seq },
        { kind: 'CHECKPOINT_HEAD_MISMATCH', checkpointNumber: 2n, accountId: merchant.id, seq },
      ]),
    );
    expect(report.firstBrokenEntryByAccount).toEqual([
      { accountId: merchant.id, accountCode: merchant.code, seq, reason: 'SEQ_GAP', detail: expect.any(String), laterBrokenEntries: 0 },
    ]);
    await tamper(t, [
      'INSERT INTO ledger_entries SELECT * FROM jsonb_populate_record(NULL::ledger_entries, $1::jsonb)',
      [JSON.stringify(saved!.row)],
    ]);
    expectClean(await verifier.verify());
  });

  it("names a pending transfer whose status was changed behind its resolution's back", async () => {
    const hold = transfers.hold;
    const change = 'UPDATE ledger_transfers SET status = $2 WHERE id = $1';
    await tamper(t, [change, [hold.id, 'voided']]);
    const report = await verifier.verify();
    expect(located(report.problems)).toEqual(located([{ kind: 'TRANSFER_RESOLUTION_MISMATCH', transferId: hold.id }]));
    await tamper(t, [change, [hold.id, 'posted']]);
    expectClean(await verifier.verify());
  });
});

describe('checkpoints', () => {
  let t: TestApp;
  let ledger: LedgerService;
  let checkpoints: CheckpointService;
  const clock = new ManualClock('2026-06-02T09:00:00.000Z');
  let funding: Account;
  let wallets: Account[];

  beforeAll(async () => {
    t = await startTestApp({ clock });
    ledger = t.app.get(LedgerService);
    checkpoints = t.app.get(CheckpointService);
    funding = (await ledger.openAccount({ code: 'external:funding:CNY', currency: 'CNY' })).account;
    wallets = [];
    for (let index = 0; index < 5; index += 1) {
      wallets.push((await ledger.openAccount({ code: `user:cp-${index}:wallet`, currency: 'CNY' })).account);
    }
  });
  afterAll(async () => {
    await expectLedgerInvariants(t.dataSource);
    await t.close();
  });

  it('chains one after another, commits every head, and is audited', async () => {
    expect(await checkpoints.latest()).toBeNull();
    const first = await checkpoints.create();
    expect(first).toMatchObject({ number: 1n, prevHash: GENESIS_HASH, accountCount: 6n, entryCount: 0n });
    await ledger.submit(wallets.map((wallet) => pay(funding, wallet, 100n)));
    const second = await checkpoints.create();
    expect(second).toMatchObject({ number: 2n, prevHash: first.hash, accountCount: 6n, entryCount: 10n });
    expect(await checkpoints.latest()).toEqual(second);
    const heads: { account_id: string; seq: string; head_hash: string }[] = await t.dataSource.query(
      'SELECT h.account_id, h.seq, h.head_hash FROM ledger_checkpoint_heads h JOIN ledger_accounts a ON a.id = h.account_id AND a.head_seq = h.seq AND a.head_hash = h.head_hash WHERE h.checkpoint_number = 2',
    );
    expect(heads).toHaveLength(6);
    const events: { resource_type: string; resource_id: string; outcome: string }[] = await t.dataSource.query(
      "SELECT resource_type, resource_id, outcome FROM audit_events WHERE action = 'ledger.checkpoint.created' ORDER BY occurred_at, resource_id",
    );
    expect(events).toEqual([
      { resource_type: 'ledger_checkpoint', resource_id: '1', outcome: 'success' },
      { resource_type: 'ledger_checkpoint', resource_id: '2', outcome: 'success' },
    ]);
  });

  it('are made periodically only when the ledger has moved', async () => {
    const periodic = t.app.get(PeriodicCheckpointer);
    const latest = await checkpoints.latest();
    expect(await periodic.tick()).toBeNull();
    expect(await checkpoints.latest()).toEqual(latest);
    await ledger.submit([pay(funding, wallets[0]!, 1n)]);
    const made = await periodic.tick();
    expect(made).toMatchObject({ number: latest!.number + 1n, prevHash: latest!.hash, entryCount: latest!.entryCount + 2n });
  });

  it('stay one chain, each a balanced cut of the ledger, when several are made at once while money moves', async () => {
    const before = (await checkpoints.latest())!.number;
    const moving: Promise<CommandResult[]>[] = [];
    const making: Promise<Checkpoint>[] = [];
    for (let round = 0; round < 10; round += 1) {
      for (let index = 0; index < 10; index += 1) moving.push(ledger.submit([pay(funding, wallets[index % wallets.length]!, 1n)]));
      making.push(checkpoints.create());
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const made = await Promise.all(making);
    expect((await Promise.all(moving)).flat().every((result) => result.ok)).toBe(true);
    expect(made.map((checkpoint) => checkpoint.number).sort((a, b) => (a < b ? -1 : 1))).toEqual(
      Array.from({ length: 10 }, (_, index) => before + 1n + BigInt(index)),
    );
    // A cut taken between a transfer's two entries would leave debits and credits apart at its heads.
    const unbalanced: unknown[] = await t.dataSource.query(
      `SELECT h.checkpoint_number FROM ledger_checkpoint_heads h
         JOIN ledger_entries e ON e.account_id = h.account_id AND e.seq = h.seq
        GROUP BY h.checkpoint_number
       HAVING sum(e.debits_posted) <> sum(e.credits_posted) OR sum(e.debits_pending) <> sum(e.credits_pending)`,
    );
    expect(unbalanced).toEqual([]);
    const report = await t.app.get(LedgerVerifier).verify({ pageSize: 4 });
    expect({ ok: report.ok, problems: report.problems }).toEqual({ ok: true, problems: [] });
    expect(report.checkpointsChecked).toBe(Number(before) + 10);
  });

  it('list newest first, a page at a time', async () => {
    const latest = (await checkpoints.latest())!;
    const seen: bigint[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 10; pages += 1) {
      const page = await checkpoints.list(2, cursor);
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((checkpoint) => checkpoint.number));
      if (page.nextCursor === null) break;
      cursor = page.nextCursor;
    }
    expect(seen).toEqual(Array.from({ length: Number(latest.number) }, (_, index) => latest.number - BigInt(index)));
    await expect(checkpoints.list(2, 'not-a-cursor')).rejects.toMatchObject({ code: 'INVALID_CURSOR' });
    await expect(checkpoints.list(0)).rejects.toMatchObject({ code: 'INVALID_COMMAND' });
  });
});

describe('verification of a ledger larger than a page', () => {
  let t: TestApp;
  let ledger: LedgerService;
  let verifier: LedgerVerifier;
  const PAGE = 997;

  beforeAll(async () => {
    t = await startTestApp({ clock: new ManualClock('2026-06-03T09:00:00.000Z') });
    ledger = t.app.get(LedgerService);
    verifier = t.app.get(LedgerVerifier);
    const accounts: Account[] = [];
    for (let index = 0; index < 40; index += 1) {
      accounts.push((await ledger.openAccount({ code: `merchant:bulk-${index}:available`, currency: 'CNY' })).account);
    }
    // 10,000 transfers (20,000 entries) in batches of 1,000, between accounts spread so that chains interleave.
    for (let batch = 0; batch < 10; batch += 1) {
      const commands = Array.from({ length: 1000 }, (_, offset) => {
        const index = batch * 1000 + offset;
        const debit = accounts[index % 40]!;
        const credit = accounts[(index * 7 + 1 + Math.floor(index / 40)) % 40]!;
        return pay(debit, credit === debit ? accounts[(index + 1) % 40]! : credit, BigInt(1 + (index % 97)));
      });
      const results = await ledger.submit(commands);
      expect(results.every((result) => result.ok)).toBe(true);
    }
    await t.app.get(CheckpointService).create();
  }, 180_000);
  afterAll(async () => {
    await t.close();
  });

  it('checks 20,000 entries in pages smaller than the table, and finds a break that straddles two pages', async () => {
    const report = await verifier.verify({ pageSize: PAGE });
    expect({ ok: report.ok, problems: report.problems }).toEqual({ ok: true, problems: [] });
    expect(report).toMatchObject({ accountsChecked: 40, entriesChecked: 20_000, transfersChecked: 10_000, checkpointsChecked: 1 });

    // The last entry of the first page of entries, whose successor on the same account opens the second page.
    const [last, next]: { account_id: string; seq: string; hash: string; transfer_id: string }[] = await t.dataSource.query(
      'SELECT account_id, seq, hash, transfer_id FROM ledger_entries ORDER BY account_id, seq OFFSET $1 LIMIT 2',
      [PAGE - 1],
    );
    expect(next!.account_id).toBe(last!.account_id);
    const change = 'UPDATE ledger_entries SET hash = $3 WHERE account_id = $1 AND seq = $2';
    await tamper(t, [change, [last!.account_id, last!.seq, '0'.repeat(63) + '1']]);
    const broken = await verifier.verify({ pageSize: PAGE });
    expect(located(broken.problems)).toEqual(
      located([{ kind: 'ENTRY_HASH_MISMATCH', accountId: last!.account_id, seq: BigInt(last!.seq), transferId: last!.transfer_id }]),
    );
    expect(broken.firstBrokenEntryByAccount).toEqual([expect.objectContaining({ seq: BigInt(last!.seq), laterBrokenEntries: 1 })]);
    await tamper(t, [change, [last!.account_id, last!.seq, last!.hash]]);
    expect((await verifier.verify({ pageSize: PAGE })).ok).toBe(true);
  }, 120_000);
});
