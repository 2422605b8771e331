import { Injectable, type OnModuleInit } from '@nestjs/common';
import { isLowerCaseUuid } from '../common/ids.js';
import { ReadRound, type RoundReader } from '../common/read-round.js';
import { CreditSignalsService } from '../credit/credit-signals.js';
import { LedgerService } from '../ledger/ledger.service.js';

/** The most users one shared read asks for. */
const READ_BATCH_LIMIT = 256;

/**
 * For each user asked for: completed payments, and the ledger accounts of what the user owes the
 * platform (receivables, one a currency; as PaymentAccounts.ofOwner reads them).
 */
const paymentSignals = (userIds: string): string => `
  SELECT u.user_id,
         (SELECT count(*)::int FROM payment_intents p WHERE p.payer_user_id = u.user_id AND p.status = 'succeeded') AS completed,
         ARRAY(SELECT a.account_id FROM payment_accounts a
                WHERE a.owner_type = 'user' AND a.owner_id = u.user_id AND a.purpose = 'receivable') AS receivables
    FROM unnest(${userIds}) AS u (user_id)`;

interface PaymentSignals {
  readonly completedPayments: number;
  readonly outstandingDebtMinor: bigint;
}

/** Feeds the credit score what payments know: completed payments (up) and money owed to the platform (down). */
@Injectable()
export class PaymentsCreditSignals implements OnModuleInit {
  /**
   * The signals of the users asked for in the same turn (concurrent decisions and score reads), read
   * together: one statement of the turn's read round for the payments and the receivables of them
   * all, then, only if one of them owes anything, one read of those accounts' balances. Not a cache:
   * see ReadRound.
   */
  private readonly reads: RoundReader<PaymentSignals>;

  constructor(
    private readonly signals: CreditSignalsService,
    private readonly ledger: LedgerService,
    round: ReadRound,
  ) {
    this.reads = round.reader({
      sql: paymentSignals,
      answer: async (rows: { user_id: string; completed: number; receivables: string[] }[]) => {
        const receivableIds = rows.flatMap((row) => row.receivables);
        const accounts = receivableIds.length === 0 ? [] : await this.ledger.accounts(receivableIds);
        const owedByAccount = new Map(accounts.map((account) => [account.id, account.debitsPosted - account.creditsPosted]));
        return new Map(
          rows.map((row) => {
            let owed = 0n;
            for (const accountId of row.receivables) {
              const balance = owedByAccount.get(accountId);
              // payment_accounts references ledger_accounts: a receivable the ledger does not know is a bug.
              if (balance === undefined) throw new Error(`payments credit signal: the ledger has no account ${accountId}`);
              owed += balance;
            }
            return [row.user_id, { completedPayments: row.completed, outstandingDebtMinor: owed }];
          }),
        );
      },
      maxKeys: READ_BATCH_LIMIT,
    });
  }

  onModuleInit(): void {
    this.signals.register({
      name: 'payments',
      signalsFor: async (userId) => {
        // PostgreSQL answers uuids in lower case: the key must be too, or the user's row would be missed.
        // A key that is not a uuid is a caller's bug, not a user without payments: refused here.
        const key = userId.toLowerCase();
        if (!isLowerCaseUuid(key)) throw new Error('payments credit signal: a user id is a uuid');
        const found = await this.reads.load(key);
        if (found === undefined) throw new Error('payments credit signal: no answer for the user');
        // Whether the user owes anything is what moves the score; the receivables of every currency.
        return found;
      },
    });
  }
}
