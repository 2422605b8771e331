import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CreditSignalsService } from '../credit/credit-signals.js';
import { PaymentAccounts } from './payment-accounts.js';
import { LedgerService } from '../ledger/ledger.service.js';

/** Feeds the credit score what payments know: completed payments (up) and money owed to the platform (down). */
@Injectable()
export class PaymentsCreditSignals implements OnModuleInit {
  constructor(
    private readonly dataSource: DataSource,
    private readonly signals: CreditSignalsService,
    private readonly accounts: PaymentAccounts,
    private readonly ledger: LedgerService,
  ) {}

  onModuleInit(): void {
    this.signals.register({
      name: 'payments',
      signalsFor: async (userId) => {
        const [[row], receivables] = await Promise.all([
          this.dataSource.query(
            `SELECT count(*)::int AS completed FROM payment_intents WHERE payer_user_id = $1 AND status = 'succeeded'`,
            [userId],
          ) as Promise<[{ completed: number }]>,
          this.accounts.ofOwner(userId, 'receivable'),
        ]);
        // Whether the user owes anything is what moves the score; the receivables of every currency, in one read.
        const accounts = receivables.length === 0 ? [] : await this.ledger.accounts(receivables.map((receivable) => receivable.accountId));
        const owed = accounts.reduce((sum, account) => sum + account.debitsPosted - account.creditsPosted, 0n);
        return { completedPayments: row.completed, outstandingDebtMinor: owed };
      },
    });
  }
}
