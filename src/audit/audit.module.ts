import { Module } from '@nestjs/common';
import { HealthModule } from '../health/health.module.js';
import { AuditController } from './audit.controller.js';
import { AuditSealer } from './audit-sealer.js';
import { AuditTrail } from './audit-trail.js';
import { AuditVerifier } from './audit-verifier.js';
import { AuditService } from './audit.service.js';

/**
 * The audit trail. Every module imports this and records through AuditService; the table is theirs to
 * append to only through it. The sealer chains events off the request path; the controller is the
 * compliance read API (`audit:read`).
 */
@Module({
  imports: [HealthModule],
  controllers: [AuditController],
  providers: [AuditService, AuditSealer, AuditTrail, AuditVerifier],
  exports: [AuditService, AuditSealer, AuditTrail, AuditVerifier],
})
export class AuditModule {}
