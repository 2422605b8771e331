import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { CheckpointService, PeriodicCheckpointer } from './checkpoints.js';
import { ExpirySweeper } from './expiry-sweeper.js';
import { LedgerController } from './ledger.controller.js';
import { LedgerVerifier } from './ledger-verifier.js';
import { LedgerService } from './ledger.service.js';
import { PostingEngine } from './posting-engine.js';

/** The ledger: accounts, transfers, entries, hash chains, checkpoints. Other modules use LedgerService only. */
@Module({
  imports: [AuditModule],
  controllers: [LedgerController],
  providers: [PostingEngine, LedgerService, ExpirySweeper, LedgerVerifier, CheckpointService, PeriodicCheckpointer],
  exports: [LedgerService, LedgerVerifier, CheckpointService],
})
export class LedgerModule {}
