import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { AppConfig } from '../config/app-config.js';
import { IdentityModule } from '../identity/identity.module.js';
import { UsersModule } from '../users/users.module.js';
import { CREDIT_SCORE_PROVIDER, MockCreditBureau } from './credit-score-provider.js';
import { CreditSignalsService } from './credit-signals.js';
import { CreditController } from './credit.controller.js';
import { CreditService } from './credit.service.js';

/**
 * Credit scores and admittance answers. The bureau is a port (CREDIT_SCORE_PROVIDER), the mock answers
 * here; CreditSignalsService is the port other modules feed with what they know (payments, agreements, debt).
 */
@Module({
  imports: [AuditModule, IdentityModule, UsersModule],
  controllers: [CreditController],
  providers: [
    CreditService,
    CreditSignalsService,
    {
      provide: CREDIT_SCORE_PROVIDER,
      inject: [AppConfig],
      useFactory: (config: AppConfig) => new MockCreditBureau(config.credit.bureauKey),
    },
  ],
  exports: [CreditService, CreditSignalsService],
})
export class CreditModule {}
