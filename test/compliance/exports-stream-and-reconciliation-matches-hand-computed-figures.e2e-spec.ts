import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { v7 as uuidv7 } from 'uuid';
import { ManualClock } from '../../src/common/clock/clock.js';
import { CSV_COLUMNS } from '../../src/compliance/ledger-export.js';
import { transferDigest } from '../../src/ledger/ledger-hashing.js';
import { LedgerService } from '../../src/ledger/ledger.service.js';
import type { Account } from '../../src/ledger/ledger.types.js';
import { transferFromRow, type TransferRow } from '../../src/ledger/posting-engine.js';
import { okTransfer, transferCommand } from '../support/ledger-commands.js';
import { expectLedgerInvariants } from '../support/ledger-invariants.js';
import { clientCredentialsToken, createConfidentialClient } from '../support/oauth.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/** Parses RFC 4180 CSV (quoted fields with doubled quotes, CRLF rows). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let index = 0; index < text.length; index += 1) {
    const character = text[index]!;
    if (quoted) {
      if (character === '"' && text[index + 1] === '"') {
        field += '"';
        index += 1;
      } else if (character === '"') quoted = false;
      else field += character;
    } else if (character === '"') quoted = true;
    else if (character === ',') {
      row.push(field);
      field = '';
    } else if (character === '\r' && text[index + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      index += 1;
    } else field += character;
  }
  expect(field).toBe('');
  return rows;
}

interface DbRow {
  transfer_id: string;
  kind: string;
  status: string;
  code: string;
  debit_account_id: string;
  credit_account_id: string;
  amount: string;
  currency: string;
  pending_id: string | null;
  resolved_by: string | null;
  linked_batch_id: string | null;
  timeout_at: Date | null;
  transfer_created_at: Date;
  metadata: Record<string, unknown> | null;
  account_id: string;
  seq: string;
  side: string;
  pending_delta: string;
  posted_delta: string;
  debits_pending: string;
  debits_posted: string;
  credits_pending: string;
  credits_posted: string;
  prev_hash: string;
  hash: string;
  entry_created_at: Date;
}

describe('the ledger export', () => {
  let t: TestApp;
  let token: string;
  let platformToken: string;
  let ledger: LedgerService;
  const clock = new ManualClock('2026-05-01T00:00:00.000Z');
  const TRANSFERS = 2600;

  beforeAll(async () => {
    t = await startTestApp({ clock });
    ledger = t.app.get(LedgerService);
    const compliance = await createConfidentialClient(t, 'compliance', null);
    token = await clientCredentialsToken(t, compliance.clientId, compliance.clientSecret, 'audit:read');
    const platform = await createConfidentialClient(t, 'platform', null);
    platformToken = await clientCredentialsToken(t, platform.clientId, platform.clientSecret, 'admin ledger:write');
    const open = async (code: string) => (await ledger.openAccount({ code, currency: 'CNY' })).account;
    const accounts: Account[] = [];
    for (const code of ['external:funding:CNY', 'user:a:wallet', 'user:b:wallet', 'merchant:m:available']) accounts.push(await open(code));
    // Batches of 650 share one created_at each: the export's keyset must break ties by id, across pages of 1,000.
    for (let batch = 0; batch < TRANSFERS / 650; batch += 1) {
      clock.advance(60_000);
      const commands = Array.from({ length: 650 }, (_, index) =>
        transferCommand(accounts[index % 2 === 0 ? 0 : 1]!, accounts[2 + (index % 2)]!, BigInt(1 + index), {
          // Metadata with the characters CSV has to quote, and one a spreadsheet would take as a formula.
          metadata: index % 97 === 0 ? { note: 'a, "quoted"\nline', formula: '=1+1' } : null,
          pending: index % 50 === 0,
        }),
      );
      (await ledger.submit(commands)).forEach(okTransfer);
    }
    clock.advance(60_000);
    const pending: { id: string }[] = await t.dataSource.query(`SELECT id FROM ledger_transfers WHERE status = 'pending' LIMIT 5`);
    for (const { id } of pending) okTransfer((await ledger.submit([{ type: 'resolve', id: uuidv7(), pendingId: id, action: 'post' }]))[0]);
  });

  afterAll(async () => {
    await t?.close();
  });

  const dbRows = async (from?: string, to?: string): Promise<DbRow[]> =>
    t.dataSource.query(
      `SELECT t.id AS transfer_id, t.kind, t.status, t.code, t.debit_account_id, t.credit_account_id, t.amount::text AS amount, t.currency,
              t.pending_id, t.resolved_by, t.linked_batch_id, t.timeout_at, t.created_at AS transfer_created_at, t.metadata,
              e.account_id, e.seq::text AS seq, e.side, e.pending_delta::text AS pending_delta, e.posted_delta::text AS posted_delta,
              e.debits_pending::text AS debits_pending, e.debits_posted::text AS debits_posted, e.credits_pending::text AS credits_pending,
              e.credits_posted::text AS credits_posted, e.prev_hash, e.hash, e.created_at AS entry_created_at
         FROM ledger_transfers t JOIN ledger_entries e ON e.transfer_id = t.id
        WHERE ($1::timestamptz IS NULL OR t.created_at >= $1) AND ($2::timestamptz IS NULL OR t.created_at < $2)
        ORDER BY t.created_at, t.id, e.side DESC`,
      [from ?? null, to ?? null],
    );

  const digestOf = async (id: string): Promise<string> => {
    const rows: TransferRow[] = await t.dataSource.query('SELECT * FROM ledger_transfers WHERE id = $1', [id]);
    return transferDigest(transferFromRow(rows[0]!));
  };

  it('as NDJSON: every transfer once, in order, with exactly its entries and hashes as the database holds them', async () => {
    const response = await t.http().get('/v1/ledger/export').query({ format: 'ndjson' }).auth(token, { type: 'bearer' }).buffer(true);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    expect(response.headers['content-disposition']).toMatch(/^attachment; filename="creditgate-ledger-.+\.ndjson"$/);
    const lines = response.text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const expected = await dbRows();
    expect(lines).toHaveLength(TRANSFERS + 5);
    expect(expected).toHaveLength((TRANSFERS + 5) * 2);
    const flattened = lines.flatMap((transfer) =>
      (transfer.entries as Record<string, unknown>[]).map((entry) => ({
        transfer_id: transfer.id,
        kind: transfer.kind,
        status: transfer.status,
        code: transfer.code,
        debit_account_id: transfer.debitAccountId,
        credit_account_id: transfer.creditAccountId,
        amount: transfer.amountMinor,
        currency: transfer.currency,
        pending_id: transfer.pendingId,
        resolved_by: transfer.resolvedBy,
        linked_batch_id: transfer.linkedBatchId,
        timeout_at: transfer.timeoutAt === null ? null : new Date(transfer.timeoutAt as string),
        transfer_created_at: new Date(transfer.createdAt as string),
        metadata: transfer.metadata,
        account_id: entry.accountId,
        seq: entry.seq,
        side: entry.side,
        pending_delta: entry.pendingDelta,
        posted_delta: entry.postedDelta,
        debits_pending: entry.debitsPending,
        debits_posted: entry.debitsPosted,
        credits_pending: entry.creditsPending,
        credits_posted: entry.creditsPosted,
        prev_hash: entry.prevHash,
        hash: entry.hash,
        entry_created_at: new Date(entry.createdAt as string),
      })),
    );
    expect(flattened).toEqual(expected);
    // Each line's digest is the one its entries' hashes commit to.
    for (const line of [lines[0]!, lines[1337]!, lines.at(-1)!]) expect(line.digest).toBe(await digestOf(line.id as string));
  });

  it('as CSV: one row an entry, quoted where it must be, matching the database row for row', async () => {
    const response = await t.http().get('/v1/ledger/export').query({ format: 'csv' }).auth(token, { type: 'bearer' }).buffer(true);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('text/csv; charset=utf-8');
    const [header, ...rows] = parseCsv(response.text);
    expect(header).toEqual([...CSV_COLUMNS]);
    const expected = await dbRows();
    expect(rows).toHaveLength(expected.length);
    rows.forEach((row, index) => {
      const db = expected[index]!;
      const record = Object.fromEntries(CSV_COLUMNS.map((column, position) => [column, row[position]]));
      expect(record).toEqual({
        transfer_id: db.transfer_id,
        transfer_kind: db.kind,
        transfer_status: db.status,
        transfer_code: db.code,
        debit_account_id: db.debit_account_id,
        credit_account_id: db.credit_account_id,
        amount_minor: db.amount,
        currency: db.currency,
        pending_id: db.pending_id ?? '',
        resolved_by: db.resolved_by ?? '',
        linked_batch_id: db.linked_batch_id ?? '',
        timeout_at: db.timeout_at?.toISOString() ?? '',
        transfer_created_at: db.transfer_created_at.toISOString(),
        transfer_metadata: db.metadata === null ? '' : JSON.stringify(db.metadata),
        transfer_digest: expect.stringMatching(/^[0-9a-f]{64}$/),
        entry_account_id: db.account_id,
        entry_seq: db.seq,
        entry_side: db.side,
        entry_pending_delta: db.pending_delta,
        entry_posted_delta: db.posted_delta,
        entry_debits_pending: db.debits_pending,
        entry_debits_posted: db.debits_posted,
        entry_credits_pending: db.credits_pending,
        entry_credits_posted: db.credits_posted,
        entry_prev_hash: db.prev_hash,
        entry_hash: db.hash,
        entry_created_at: db.entry_created_at.toISOString(),
      });
    });
    expect(response.text).toContain('"{""note"":""a, \\""quoted\\""\\nline"",""formula"":""=1+1""}"');
  });

  it('takes a time range [from, to), and refuses a reversed one', async () => {
    const from = '2026-05-01T00:02:00.000Z';
    const to = '2026-05-01T00:04:00.000Z';
    const response = await t.http().get('/v1/ledger/export').query({ from, to }).auth(token, { type: 'bearer' }).buffer(true);
    const lines = response.text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { id: string });
    const expected = await dbRows(from, to);
    expect(lines).toHaveLength(1300);
    expect(lines.map((line) => line.id)).toEqual(expected.filter((_, index) => index % 2 === 0).map((row) => row.transfer_id));
    const reversed = await t.http().get('/v1/ledger/export').query({ from: to, to: from }).auth(token, { type: 'bearer' });
    expect(reversed.status).toBe(400);
    expect(reversed.body.code).toBe('INVALID_RANGE');
  });

  it('is read by audit:read only, and each export is recorded', async () => {
    expect((await t.http().get('/v1/ledger/export')).status).toBe(401);
    expect((await t.http().get('/v1/ledger/export').auth(platformToken, { type: 'bearer' })).status).toBe(403);
    const events: { details: Record<string, unknown> }[] = await t.dataSource.query(
      `SELECT details FROM audit_events WHERE action = 'ledger.export.started' ORDER BY occurred_at, id`,
    );
    expect(events.map((event) => event.details.format)).toEqual(['ndjson', 'csv', 'ndjson']);
  });
});

describe('the daily reconciliation', () => {
  let t: TestApp;
  let token: string;
  let ledger: LedgerService;
  const clock = new ManualClock('2026-06-01T09:00:00.000Z');
  let accounts: Record<'funding' | 'wallet' | 'merchant' | 'escrow', Account>;

  beforeAll(async () => {
    t = await startTestApp({ clock });
    ledger = t.app.get(LedgerService);
    const compliance = await createConfidentialClient(t, 'compliance', null);
    token = await clientCredentialsToken(t, compliance.clientId, compliance.clientSecret, 'audit:read');
    const open = async (code: string, flags = {}) => (await ledger.openAccount({ code, currency: 'CNY', ...flags })).account;
    accounts = {
      funding: await open('external:funding:CNY'),
      wallet: await open('user:recon:wallet', { debitsMustNotExceedCredits: true }),
      merchant: await open('merchant:recon:available'),
      escrow: await open('platform:deposit-escrow:CNY'),
    };
    const { funding, wallet, merchant, escrow } = accounts;
    const at = (iso: string) => clock.set(new Date(iso));
    const one = async (command: Parameters<LedgerService['submit']>[0][number]) => okTransfer((await ledger.submit([command]))[0]);
    // Day 1.
    at('2026-06-01T10:00:00.000Z');
    await one(transferCommand(funding, wallet, 10_000n));
    // Day 2, the day reconciled.
    at('2026-06-02T09:00:00.000Z');
    await one(transferCommand(wallet, merchant, 1_200n));
    at('2026-06-02T10:00:00.000Z');
    const hold = await one(transferCommand(wallet, escrow, 700n, { pending: true }));
    at('2026-06-02T11:00:00.000Z');
    await one({ type: 'resolve', id: uuidv7(), pendingId: hold.id, action: 'post', amount: 400n });
    at('2026-06-02T23:59:59.999Z');
    await one(transferCommand(wallet, escrow, 500n, { pending: true }));
    // Day 3, from its first millisecond.
    at('2026-06-03T00:00:00.000Z');
    await one(transferCommand(merchant, wallet, 100n));
    await expectLedgerInvariants(t.dataSource);
  });

  afterAll(async () => {
    await t?.close();
  });

  const reconcile = (date: string, extra: Record<string, string> = {}) =>
    t
      .http()
      .get('/v1/compliance/reconciliation')
      .query({ date, ...extra })
      .auth(token, { type: 'bearer' });
  const zero = { debitsPending: '0', debitsPosted: '0', creditsPending: '0', creditsPosted: '0', balancePosted: '0' };

  it('gives, for a known day, exactly the hand-computed opening, debits, credits and closing of each account, and the totals', async () => {
    const response = await reconcile('2026-06-02');
    expect(response.status).toBe(200);
    const byCode = Object.fromEntries((response.body.accounts as { code: string }[]).map((account) => [account.code, account]));
    expect(response.body).toMatchObject({
      date: '2026-06-02',
      from: '2026-06-02T00:00:00.000Z',
      to: '2026-06-03T00:00:00.000Z',
      passed: true,
    });
    // The wallet: 10,000 in on day 1; on day 2, 1,200 paid, a 700 hold of which 400 posted (300 released), a 500 hold left pending.
    expect(byCode['user:recon:wallet']).toEqual({
      accountId: accounts.wallet.id,
      code: 'user:recon:wallet',
      currency: 'CNY',
      opening: { ...zero, creditsPosted: '10000', balancePosted: '10000' },
      debits: { posted: '1600', pending: '500' },
      credits: { posted: '0', pending: '0' },
      entries: 4,
      closing: { debitsPending: '500', debitsPosted: '1600', creditsPending: '0', creditsPosted: '10000', balancePosted: '8400' },
      // Day 3 has an entry after the closing one: the row is compared only when the day's closing is the account's head.
      checks: { rollsForward: true, matchesAccountRow: null },
    });
    expect(byCode['merchant:recon:available']).toMatchObject({
      opening: zero,
      debits: { posted: '0', pending: '0' },
      credits: { posted: '1200', pending: '0' },
      entries: 1,
      closing: { ...zero, creditsPosted: '1200', balancePosted: '1200' },
      checks: { rollsForward: true, matchesAccountRow: null },
    });
    expect(byCode['platform:deposit-escrow:CNY']).toMatchObject({
      opening: zero,
      credits: { posted: '400', pending: '500' },
      entries: 3,
      closing: { ...zero, creditsPending: '500', creditsPosted: '400', balancePosted: '400' },
      checks: { rollsForward: true, matchesAccountRow: true },
    });
    expect(byCode['external:funding:CNY']).toMatchObject({
      opening: { ...zero, debitsPosted: '10000', balancePosted: '-10000' },
      debits: { posted: '0', pending: '0' },
      entries: 0,
      closing: { ...zero, debitsPosted: '10000', balancePosted: '-10000' },
      checks: { rollsForward: true, matchesAccountRow: true },
    });
    expect(response.body.currencies).toEqual([
      {
        currency: 'CNY',
        accounts: 4,
        opening: { debitsPending: '0', debitsPosted: '10000', creditsPending: '0', creditsPosted: '10000', balancePosted: '0' },
        movements: {
          debitsPending: '500',
          debitsPosted: '1600',
          creditsPending: '500',
          creditsPosted: '1600',
          balancePosted: '0',
          entries: 8,
        },
        closing: { debitsPending: '500', debitsPosted: '11600', creditsPending: '500', creditsPosted: '11600', balancePosted: '0' },
        checks: { openingBalanced: true, movementsBalanced: true, closingBalanced: true, everyAccountRollsForward: true },
        accountsFailing: 0,
      },
    ]);
    expect(response.body.nextCursor).toBeNull();
  });

  it('pages the accounts while the totals still cover all of them', async () => {
    const first = await reconcile('2026-06-02', { limit: '3' });
    expect(first.body.accounts).toHaveLength(3);
    expect(first.body.currencies[0].accounts).toBe(4);
    const second = await reconcile('2026-06-02', { limit: '3', cursor: first.body.nextCursor as string });
    expect(second.body.accounts).toHaveLength(1);
    expect(second.body.nextCursor).toBeNull();
    const ids = [...first.body.accounts, ...second.body.accounts].map((account: { accountId: string }) => account.accountId);
    expect(ids).toEqual([...ids].sort());
    expect(new Set(ids).size).toBe(4);
  });

  it('fails the checks, naming the account, when a stored delta was changed behind the triggers', async () => {
    const runner = t.dataSource.createQueryRunner();
    try {
      await runner.startTransaction();
      await runner.query('SET LOCAL session_replication_role = replica');
      const changed = await runner.query(
        `UPDATE ledger_entries SET posted_delta = posted_delta + 1 WHERE account_id = $1 AND seq = 1`,
        [accounts.merchant.id],
        true,
      );
      expect(changed.affected).toBe(1);
      await runner.commitTransaction();
    } finally {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      await runner.release();
    }
    const response = await reconcile('2026-06-02');
    expect(response.body.passed).toBe(false);
    const merchant = (response.body.accounts as { code: string; checks: unknown; credits: unknown }[]).find(
      (account) => account.code === 'merchant:recon:available',
    );
    expect(merchant).toMatchObject({ credits: { posted: '1201' }, checks: { rollsForward: false } });
    expect(response.body.currencies[0]).toMatchObject({
      checks: { movementsBalanced: false, everyAccountRollsForward: false },
      accountsFailing: 1,
    });
    const event: { outcome: string; problem_code: string }[] = await t.dataSource.query(
      `SELECT outcome, problem_code FROM audit_events WHERE action = 'ledger.reconciliation.read' ORDER BY occurred_at DESC, id DESC LIMIT 1`,
    );
    expect(event).toEqual([{ outcome: 'failure', problem_code: 'RECONCILIATION_FAILED' }]);
  });

  it('refuses a date that is not one', async () => {
    for (const date of ['2026-02-30', '2026-6-1', 'yesterday']) {
      const response = await reconcile(date);
      expect(response.status).toBe(400);
    }
  });
});
