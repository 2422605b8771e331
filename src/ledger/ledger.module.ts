import { Module } from '@nestjs/common';
import { LedgerService } from './ledger.service.js';
import { PostingEngine } from './posting-engine.js';

/** The ledger: accounts, transfers, entries, hash chains, checkpoints. Other modules use LedgerService only. */
@Module({
  providers: [PostingEngine, LedgerService],
  exports: [LedgerService],
})
export class LedgerModule {}
