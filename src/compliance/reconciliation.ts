import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';

/** The four TigerBeetle balances of an account at a moment, in minor units. */
export interface BalanceSet {
  readonly debitsPending: bigint;
  readonly debitsPosted: bigint;
  readonly creditsPending: bigint;
  readonly creditsPosted: bigint;
}

export interface AccountReconciliation {
  readonly accountId: string;
  readonly code: string;
  readonly currency: string;
  readonly opening: BalanceSet;
  /** What the day's entries moved: posted and pending, on each side. */
  readonly movements: BalanceSet & { readonly entries: number };
  readonly closing: BalanceSet;
  /** opening + movements = closing, for each of the four balances. */
  readonly rollsForward: boolean;
  /** When the day's closing is the account's latest entry: the account row agrees with it (null otherwise). */
  readonly matchesAccountRow: boolean | null;
}

export interface CurrencyReconciliation {
  readonly currency: string;
  readonly accounts: number;
  readonly opening: BalanceSet;
  readonly movements: BalanceSet & { readonly entries: number };
  readonly closing: BalanceSet;
  readonly checks: {
    /** Double entry at the start of the day: posted debits = posted credits, pending likewise. */
    readonly openingBalanced: boolean;
    /** The day's entries moved as much on the debit side as on the credit side. */
    readonly movementsBalanced: boolean;
    readonly closingBalanced: boolean;
    /** Every account of the currency rolls forward (and matches its row where that applies). */
    readonly everyAccountRollsForward: boolean;
  };
  readonly accountsFailing: number;
}

export interface ReconciliationReport {
  readonly date: string;
  readonly from: Date;
  readonly to: Date;
  readonly passed: boolean;
  readonly currencies: CurrencyReconciliation[];
  readonly accounts: AccountReconciliation[];
  /** The account id to pass as `cursor` for the next page of accounts; null on the last page. Totals always cover every account. */
  readonly nextCursor: string | null;
}

interface Row {
  account_id: string;
  code: string;
  currency: string;
  o_dp: string;
  o_dpo: string;
  o_cp: string;
  o_cpo: string;
  m_dp: string;
  m_dpo: string;
  m_cp: string;
  m_cpo: string;
  m_entries: string;
  c_dp: string;
  c_dpo: string;
  c_cp: string;
  c_cpo: string;
  rolls_forward: boolean;
  matches_row: boolean | null;
}

/**
 * Each account at the day's start (its last entry before it), what the day's entries moved, and the
 * account at the day's end (its last entry before the next day). Opening and closing come from the
 * balances stored in the entries, movements from the deltas stored in them: three independent sources
 * that must agree. Every lateral is an index range scan on ledger_entries (account_id, created_at, seq).
 */
const PER_ACCOUNT = `
  SELECT a.id AS account_id, a.code, a.currency,
         coalesce(o.debits_pending, 0) AS o_dp, coalesce(o.debits_posted, 0) AS o_dpo,
         coalesce(o.credits_pending, 0) AS o_cp, coalesce(o.credits_posted, 0) AS o_cpo,
         m.dp AS m_dp, m.dpo AS m_dpo, m.cp AS m_cp, m.cpo AS m_cpo, m.entries AS m_entries,
         coalesce(c.debits_pending, 0) AS c_dp, coalesce(c.debits_posted, 0) AS c_dpo,
         coalesce(c.credits_pending, 0) AS c_cp, coalesce(c.credits_posted, 0) AS c_cpo,
         (coalesce(o.debits_pending, 0) + m.dp = coalesce(c.debits_pending, 0)
          AND coalesce(o.debits_posted, 0) + m.dpo = coalesce(c.debits_posted, 0)
          AND coalesce(o.credits_pending, 0) + m.cp = coalesce(c.credits_pending, 0)
          AND coalesce(o.credits_posted, 0) + m.cpo = coalesce(c.credits_posted, 0)) AS rolls_forward,
         CASE WHEN coalesce(c.seq, 0) = a.head_seq THEN
           (coalesce(c.debits_pending, 0), coalesce(c.debits_posted, 0), coalesce(c.credits_pending, 0), coalesce(c.credits_posted, 0))
             = (a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted)
         END AS matches_row
    FROM ledger_accounts a
    LEFT JOIN LATERAL (
      SELECT debits_pending, debits_posted, credits_pending, credits_posted FROM ledger_entries e
       WHERE e.account_id = a.id AND e.created_at < $1 ORDER BY e.created_at DESC, e.seq DESC LIMIT 1) o ON true
    CROSS JOIN LATERAL (
      SELECT coalesce(sum(pending_delta) FILTER (WHERE side = 'debit'), 0) AS dp,
             coalesce(sum(posted_delta) FILTER (WHERE side = 'debit'), 0) AS dpo,
             coalesce(sum(pending_delta) FILTER (WHERE side = 'credit'), 0) AS cp,
             coalesce(sum(posted_delta) FILTER (WHERE side = 'credit'), 0) AS cpo,
             count(*) AS entries
        FROM ledger_entries e WHERE e.account_id = a.id AND e.created_at >= $1 AND e.created_at < $2) m
    LEFT JOIN LATERAL (
      SELECT seq, debits_pending, debits_posted, credits_pending, credits_posted FROM ledger_entries e
       WHERE e.account_id = a.id AND e.created_at < $2 ORDER BY e.created_at DESC, e.seq DESC LIMIT 1) c ON true
   WHERE a.created_at < $2`;

const set = (dp: string, dpo: string, cp: string, cpo: string): BalanceSet => ({
  debitsPending: BigInt(dp),
  debitsPosted: BigInt(dpo),
  creditsPending: BigInt(cp),
  creditsPosted: BigInt(cpo),
});

const balanced = (b: BalanceSet): boolean => b.debitsPosted === b.creditsPosted && b.debitsPending === b.creditsPending;

export const MAX_RECONCILIATION_ACCOUNTS = 1000;

/**
 * The daily reconciliation (a UTC day): per account opening balance, debits, credits and closing
 * balance; per currency the totals; and each check, passed or not. The per-currency totals and checks
 * always cover every account (one aggregate over the per-account query, in the database); the account
 * list is paged by account id. Both read one REPEATABLE READ snapshot.
 */
@Injectable()
export class Reconciliation {
  constructor(private readonly dataSource: DataSource) {}

  async report(date: string, limit = MAX_RECONCILIATION_ACCOUNTS, cursor?: string): Promise<ReconciliationReport> {
    const from = new Date(`${date}T00:00:00.000Z`);
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date) || Number.isNaN(from.getTime()) || from.toISOString().slice(0, 10) !== date)
      throw new Error(`reconciliation: ${date} is not a calendar date`);
    const to = new Date(from.getTime() + 86_400_000);
    return this.dataSource.transaction('REPEATABLE READ', async (manager) => {
      await manager.query('SET TRANSACTION READ ONLY');
      const currencies = await this.currencies(manager, from, to);
      const rows: Row[] = await manager.query(
        `SELECT * FROM (${PER_ACCOUNT}) per WHERE ($3::uuid IS NULL OR account_id > $3) ORDER BY account_id LIMIT $4`,
        [from, to, cursor ?? null, limit + 1],
      );
      const page = rows.slice(0, limit);
      return {
        date,
        from,
        to,
        passed: currencies.every((currency) => Object.values(currency.checks).every(Boolean)),
        currencies,
        accounts: page.map((row) => ({
          accountId: row.account_id,
          code: row.code,
          currency: row.currency,
          opening: set(row.o_dp, row.o_dpo, row.o_cp, row.o_cpo),
          movements: { ...set(row.m_dp, row.m_dpo, row.m_cp, row.m_cpo), entries: Number(row.m_entries) },
          closing: set(row.c_dp, row.c_dpo, row.c_cp, row.c_cpo),
          rollsForward: row.rolls_forward,
          matchesAccountRow: row.matches_row,
        })),
        nextCursor: rows.length > limit ? (page.at(-1)?.account_id ?? null) : null,
      };
    });
  }

  private async currencies(manager: EntityManager, from: Date, to: Date): Promise<CurrencyReconciliation[]> {
    const rows: (Omit<Row, 'account_id' | 'code' | 'rolls_forward' | 'matches_row'> & { accounts: string; failing: string })[] =
      await manager.query(
        `SELECT currency, count(*) AS accounts,
                sum(o_dp)::text AS o_dp, sum(o_dpo)::text AS o_dpo, sum(o_cp)::text AS o_cp, sum(o_cpo)::text AS o_cpo,
                sum(m_dp)::text AS m_dp, sum(m_dpo)::text AS m_dpo, sum(m_cp)::text AS m_cp, sum(m_cpo)::text AS m_cpo,
                sum(m_entries)::text AS m_entries,
                sum(c_dp)::text AS c_dp, sum(c_dpo)::text AS c_dpo, sum(c_cp)::text AS c_cp, sum(c_cpo)::text AS c_cpo,
                count(*) FILTER (WHERE NOT rolls_forward OR matches_row IS FALSE) AS failing
           FROM (${PER_ACCOUNT}) per
          GROUP BY currency ORDER BY currency`,
        [from, to],
      );
    return rows.map((row) => {
      const opening = set(row.o_dp, row.o_dpo, row.o_cp, row.o_cpo);
      const movements = set(row.m_dp, row.m_dpo, row.m_cp, row.m_cpo);
      const closing = set(row.c_dp, row.c_dpo, row.c_cp, row.c_cpo);
      const failing = Number(row.failing);
      return {
        currency: row.currency,
        accounts: Number(row.accounts),
        opening,
        movements: { ...movements, entries: Number(row.m_entries) },
        closing,
        checks: {
          openingBalanced: balanced(opening),
          movementsBalanced: balanced(movements),
          closingBalanced: balanced(closing),
          everyAccountRollsForward: failing === 0,
        },
        accountsFailing: failing,
      };
    });
  }
}
