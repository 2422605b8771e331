import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { OAuthModule } from '../oauth/oauth.module.js';
import { UsersModule } from '../users/users.module.js';
import { BalanceHistory } from './balance-history.js';
import { ComplianceController, ComplianceRoleController } from './compliance.controller.js';
import { LedgerExport } from './ledger-export.js';
import { Reconciliation } from './reconciliation.js';

/**
 * Compliance reads of the ledger that do not belong on the ledger's hot path: the streamed export, the
 * daily reconciliation, balance history; and the compliance role. Reads ledger tables (read-only,
 * consistent snapshots), never writes them.
 */
@Module({
  imports: [AuditModule, OAuthModule, UsersModule],
  controllers: [ComplianceController, ComplianceRoleController],
  providers: [LedgerExport, Reconciliation, BalanceHistory],
  exports: [LedgerExport, Reconciliation],
})
export class ComplianceModule {}
