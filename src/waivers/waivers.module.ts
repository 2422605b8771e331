import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { CreditModule } from '../credit/credit.module.js';
import { IdentityModule } from '../identity/identity.module.js';
import { LedgerModule } from '../ledger/ledger.module.js';
import { PaymentsModule } from '../payments/payments.module.js';
import { WebhooksModule } from '../webhooks/webhooks.module.js';
import { DepositAgreementTallies } from './deposit-agreement-tallies.js';
import { DepositAgreementsController } from './deposit-agreements.controller.js';
import { DepositAgreementsService } from './deposit-agreements.service.js';
import { WaiversController } from './waivers.controller.js';
import { WaiversService } from './waivers.service.js';

/** Waiver policies (versioned), the decision engine, and deposit agreements. */
@Module({
  imports: [AuditModule, IdentityModule, CreditModule, LedgerModule, PaymentsModule, WebhooksModule],
  controllers: [WaiversController, DepositAgreementsController],
  providers: [WaiversService, DepositAgreementsService, DepositAgreementTallies],
  exports: [WaiversService, DepositAgreementsService],
})
export class WaiversModule {}
