import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CreditSignalsService } from '../credit/credit-signals.js';
import { PaymentAccounts } from './payment-accounts.js';
import { WalletService } from './wallet.service.js';

/** Feeds the credit score what payments know: completed payments (up) and money owed to the platform (down). */
@Injectable()
export class PaymentsCreditSignals implements OnModuleInit {
  constructor(
    private readonly dataSource: DataSource,
    private readonly signals: CreditSignalsService,
    private readonly accounts: PaymentAccounts,
    private readonly wallets: WalletService,
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
        let owed = 0n;
        for (const receivable of receivables) owed += await this.wallets.outstandingReceivable(userId, receivable.currency);
        return { completedPayments: row.completed, outstandingDebtMinor: owed };
      },
    });
  }
}
