import { Injectable } from '@nestjs/common';
import { isLowerCaseUuid } from '../common/ids.js';
import { ReadRound, type RoundReader } from '../common/read-round.js';

/** How many of a user's deposit agreements are in one status and currency, and what they waived. */
export interface AgreementTally {
  readonly status: string;
  readonly currency: string;
  readonly count: number;
  readonly waivedMinor: bigint;
}

/** The most users one read asks for. */
const READ_BATCH_LIMIT = 256;

/**
 * A user's deposit agreements counted by status and currency: what a waiver decision needs twice (the
 * open agreements and their waived exposure; the completed and defaulted ones, through the credit
 * signals port), read once. The reads of the same turn (concurrent decisions, score reads) share one
 * statement of the turn's read round; it is not a cache (see ReadRound): every answer was read after
 * its caller asked.
 * Outside a transaction only; a check under a lock reads inside its own transaction.
 */
@Injectable()
export class DepositAgreementTallies {
  private readonly reads: RoundReader<AgreementTally[]>;

  constructor(round: ReadRound) {
    this.reads = round.reader({
      sql: (userIds) =>
        `SELECT user_id, status, currency, count(*)::int AS count, sum(waived_minor)::text AS waived
           FROM deposit_agreements WHERE user_id = ANY(${userIds}) GROUP BY user_id, status, currency`,
      answer: (rows: { user_id: string; status: string; currency: string; count: number; waived: string }[]) => {
        const byUser = new Map<string, AgreementTally[]>();
        for (const row of rows) {
          const tallies = byUser.get(row.user_id) ?? [];
          tallies.push({ status: row.status, currency: row.currency, count: row.count, waivedMinor: BigInt(row.waived) });
          byUser.set(row.user_id, tallies);
        }
        return byUser;
      },
      maxKeys: READ_BATCH_LIMIT,
    });
  }

  /** The user's tallies (none for a user without agreements). */
  async ofUser(userId: string): Promise<readonly AgreementTally[]> {
    // PostgreSQL answers uuids in lower case: the key must be too, or the user's rows would be missed.
    // A key that is not a uuid is a caller's bug, not a user without agreements: refused here.
    const key = userId.toLowerCase();
    if (!isLowerCaseUuid(key)) throw new Error('deposit agreement tallies: a user id is a uuid');
    return (await this.reads.load(key)) ?? [];
  }
}

/** How many of `tallies` are in one of `statuses` (and `currency`, when given), and what they waived. */
export function sumTallies(
  tallies: readonly AgreementTally[],
  statuses: readonly string[],
  currency?: string,
): { count: number; waivedMinor: bigint } {
  let count = 0;
  let waivedMinor = 0n;
  for (const tally of tallies) {
    if (!statuses.includes(tally.status) || (currency !== undefined && tally.currency !== currency)) continue;
    count += tally.count;
    waivedMinor += tally.waivedMinor;
  }
  return { count, waivedMinor };
}
