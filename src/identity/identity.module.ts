import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { IDENTITY_AUTHORITY, MockIdentityAuthority } from './identity-authority.js';
import { IdentityController } from './identity.controller.js';
import { IdentityService } from './identity.service.js';

/**
 * Real-name verification. The identity authority is a port (IDENTITY_AUTHORITY): the mock answers here;
 * a real provider's adapter replaces it without touching the rest.
 */
@Module({
  imports: [AuditModule],
  controllers: [IdentityController],
  providers: [IdentityService, { provide: IDENTITY_AUTHORITY, useClass: MockIdentityAuthority }],
  exports: [IdentityService],
})
export class IdentityModule {}
