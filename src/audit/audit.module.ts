import { Module } from '@nestjs/common';
import { AuditService } from './audit.service.js';

/**
 * The audit trail. Every module imports this and records through AuditService; the table is theirs to
 * append to only through it.
 */
@Module({
  providers: [AuditService],
  exports: [AuditService],
})
export class AuditModule {}
