import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { CreditModule } from '../credit/credit.module.js';
import { IdentityModule } from '../identity/identity.module.js';
import { WaiversController } from './waivers.controller.js';
import { WaiversService } from './waivers.service.js';

/** Waiver policies (versioned), the decision engine, and deposit agreements. */
@Module({
  imports: [AuditModule, IdentityModule, CreditModule],
  controllers: [WaiversController],
  providers: [WaiversService],
  exports: [WaiversService],
})
export class WaiversModule {}
