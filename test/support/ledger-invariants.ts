import { expect } from '@jest/globals';
import type { DataSource } from 'typeorm';
import { entryHash, GENESIS_HASH, transferDigest } from '../../src/ledger/ledger-hashing.js';
import { type EntryRow, transferFromRow, type TransferRow } from '../../src/ledger/posting-engine.js';

/**
 * Checks every invariant of the ledger straight from the tables: double entry per currency, stored
 * balances equal to the sums of entries, flagged limits, and every account's hash chain.
 */
export async function expectLedgerInvariants(dataSource: DataSource): Promise<void> {
  const perCurrency: {
    currency: string;
    debits_posted: string;
    credits_posted: string;
    debits_pending: string;
    credits_pending: string;
  }[] = await dataSource.query(
    `SELECT currency, sum(debits_posted)::text AS debits_posted, sum(credits_posted)::text AS credits_posted,
            sum(debits_pending)::text AS debits_pending, sum(credits_pending)::text AS credits_pending
       FROM ledger_accounts GROUP BY currency`,
  );
  for (const row of perCurrency) {
    expect({ currency: row.currency, posted: row.debits_posted, pending: row.debits_pending }).toEqual({
      currency: row.currency,
      posted: row.credits_posted,
      pending: row.credits_pending,
    });
  }
  const mismatched: unknown[] = await dataSource.query(
    `SELECT a.code FROM ledger_accounts a
       LEFT JOIN LATERAL (
         SELECT coalesce(sum(CASE WHEN side = 'debit' THEN pending_delta END), 0) AS dp,
                coalesce(sum(CASE WHEN side = 'debit' THEN posted_delta END), 0) AS dpo,
                coalesce(sum(CASE WHEN side = 'credit' THEN pending_delta END), 0) AS cp,
                coalesce(sum(CASE WHEN side = 'credit' THEN posted_delta END), 0) AS cpo,
                count(*) AS n, max(seq) AS last
           FROM ledger_entries e WHERE e.account_id = a.id) s ON true
      WHERE (a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted) <> (s.dp, s.dpo, s.cp, s.cpo)
         OR a.head_seq <> s.n OR coalesce(s.last, 0) <> s.n`,
  );
  expect(mismatched).toEqual([]);
  const overLimit: unknown[] = await dataSource.query(
    `SELECT code FROM ledger_accounts
      WHERE (debits_must_not_exceed_credits AND debits_pending + debits_posted > credits_posted)
         OR (credits_must_not_exceed_debits AND credits_pending + credits_posted > debits_posted)`,
  );
  expect(overLimit).toEqual([]);
  const entries: EntryRow[] = await dataSource.query('SELECT * FROM ledger_entries ORDER BY account_id, seq');
  const transferRows: TransferRow[] = await dataSource.query('SELECT * FROM ledger_transfers');
  const digests = new Map(transferRows.map((row) => [row.id, transferDigest(transferFromRow(row))]));
  const heads: { id: string; head_hash: string }[] = await dataSource.query('SELECT id, head_hash FROM ledger_accounts');
  const lastHash = new Map<string, string>();
  for (const entry of entries) {
    const prev = lastHash.get(entry.account_id) ?? GENESIS_HASH;
    expect(entry.prev_hash).toBe(prev);
    const recomputed = entryHash(prev, {
      accountId: entry.account_id,
      seq: BigInt(entry.seq),
      transferId: entry.transfer_id,
      transferDigest: digests.get(entry.transfer_id) ?? 'missing transfer',
      side: entry.side,
      pendingDelta: BigInt(entry.pending_delta),
      postedDelta: BigInt(entry.posted_delta),
      debitsPending: BigInt(entry.debits_pending),
      debitsPosted: BigInt(entry.debits_posted),
      creditsPending: BigInt(entry.credits_pending),
      creditsPosted: BigInt(entry.credits_posted),
      createdAt: entry.created_at,
    });
    expect(entry.hash).toBe(recomputed);
    lastHash.set(entry.account_id, entry.hash);
  }
  for (const head of heads) expect(head.head_hash).toBe(lastHash.get(head.id) ?? GENESIS_HASH);
}
