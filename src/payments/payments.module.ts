import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { CreditModule } from '../credit/credit.module.js';
import { LedgerModule } from '../ledger/ledger.module.js';
import { WebhooksModule } from '../webhooks/webhooks.module.js';
import { FundingRail, SandboxFundingRail } from './funding-rail.js';
import { IntentExpirySweeper } from './intent-expiry-sweeper.js';
import { MerchantAccountsService } from './merchant-accounts.service.js';
import { MerchantFees } from './merchant-fees.js';
import { MerchantPaymentSettingsController } from './merchant-fees.controller.js';
import { PaymentAccounts } from './payment-accounts.js';
import { PaymentIntentsService } from './payment-intents.service.js';
import { PaymentsCreditSignals } from './payments-credit-signals.js';
import {
  MerchantController,
  PaymentIntentsController,
  PayoutsController,
  RefundsController,
  WalletController,
} from './payments.controller.js';
import { PayoutsService } from './payouts.service.js';
import { RefundsService } from './refunds.service.js';
import { WalletService } from './wallet.service.js';

/**
 * Payments: wallets, top-ups, payment intents, captures, refunds, payouts and fees, all on the ledger.
 * Exports the wallet facade (balances and what a user owes) and the accounts other modules need
 * (deposit escrow, credit guarantee) opened the same way.
 */
@Module({
  imports: [AuditModule, LedgerModule, WebhooksModule, CreditModule],
  controllers: [
    PaymentIntentsController,
    RefundsController,
    PayoutsController,
    MerchantController,
    WalletController,
    MerchantPaymentSettingsController,
  ],
  providers: [
    { provide: FundingRail, useClass: SandboxFundingRail },
    PaymentAccounts,
    MerchantFees,
    PaymentIntentsService,
    IntentExpirySweeper,
    RefundsService,
    PayoutsService,
    WalletService,
    MerchantAccountsService,
    PaymentsCreditSignals,
  ],
  exports: [WalletService, PaymentAccounts, MerchantFees, PaymentIntentsService],
})
export class PaymentsModule {}
