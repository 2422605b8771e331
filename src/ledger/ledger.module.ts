import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { ExpirySweeper } from './expiry-sweeper.js';
import { LedgerController } from './ledger.controller.js';
import { LedgerService } from './ledger.service.js';
import { PostingEngine } from './posting-engine.js';

/** The ledger: accounts, transfers, entries, hash chains, checkpoints. Other modules use LedgerService only. */
@Module({
  imports: [AuditModule],
  controllers: [LedgerController],
  providers: [PostingEngine, LedgerService, ExpirySweeper],
  exports: [LedgerService],
})
export class LedgerModule {}
