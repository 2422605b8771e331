import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface BalancePoint {
  readonly at: Date;
  /** Posted credits less posted debits after the account's last entry at or before `at`. */
  readonly balancePosted: bigint;
  readonly debitsPending: bigint;
  readonly creditsPending: bigint;
  /** The seq of that entry (0: none yet). */
  readonly seq: bigint;
}

export const MAX_BALANCE_POINTS = 500;

/**
 * An account's balance over time, sampled at `points` evenly spaced instants from `from` to `to`
 * (both included): one index lookup an instant (the last entry at or before it), so a chart of a busy
 * account costs `points` lookups, not a walk through its entries.
 */
@Injectable()
export class BalanceHistory {
  constructor(private readonly dataSource: DataSource) {}

  async sample(accountId: string, from: Date, to: Date, points: number): Promise<BalancePoint[]> {
    if (!Number.isSafeInteger(points) || points < 2 || points > MAX_BALANCE_POINTS) throw new Error('balance history: 2 to 500 points');
    if (!(to.getTime() > from.getTime())) throw new Error('balance history: to must be after from');
    const stepMs = (to.getTime() - from.getTime()) / (points - 1);
    const rows: { at: Date; seq: string | null; dp: string | null; dpo: string | null; cp: string | null; cpo: string | null }[] =
      await this.dataSource.query(
        `SELECT s.at, e.seq::text AS seq, e.debits_pending AS dp, e.debits_posted AS dpo, e.credits_pending AS cp, e.credits_posted AS cpo
           FROM (SELECT $2::timestamptz + (n * $4::double precision) * interval '1 millisecond' AS at
                   FROM generate_series(0, $3::int - 1) AS n) s
           LEFT JOIN LATERAL (
             SELECT seq, debits_pending, debits_posted, credits_pending, credits_posted FROM ledger_entries
              WHERE account_id = $1 AND created_at <= s.at ORDER BY created_at DESC, seq DESC LIMIT 1) e ON true
          ORDER BY s.at`,
        [accountId, from, points, stepMs],
      );
    return rows.map((row) => ({
      at: row.at,
      balancePosted: BigInt(row.cpo ?? '0') - BigInt(row.dpo ?? '0'),
      debitsPending: BigInt(row.dp ?? '0'),
      creditsPending: BigInt(row.cp ?? '0'),
      seq: BigInt(row.seq ?? '0'),
    }));
  }
}
