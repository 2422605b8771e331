import { Module } from '@nestjs/common';
import { APP_GUARD, DiscoveryModule } from '@nestjs/core';
import { PassportModule } from '@nestjs/passport';
import { AuditModule } from '../audit/audit.module.js';
import { UsersModule } from '../users/users.module.js';
import { AccessGuard } from './access.guard.js';
import { AccessTokenStrategy } from './access-token.strategy.js';
import { AccessTokenVerifier } from './access-token.verifier.js';
import { AuthorizationServer } from './authorization-server.js';
import { ClientRegistry } from './client-registry.js';
import { GrantsService } from './grants.service.js';
import { InteractionController } from './interaction.controller.js';
import { KeyStore } from './key-store.js';
import { AdminController, GrantsController, PrincipalController } from './oauth.controller.js';
import { RouteAccessCheck } from './route-access.check.js';

/**
 * The authorization server (oidc-provider), its sign-in and consent pages, the client registry, and the
 * resource side every route goes through: the passport strategy and the global access guard.
 */
@Module({
  imports: [PassportModule, DiscoveryModule, AuditModule, UsersModule],
  controllers: [InteractionController, AdminController, GrantsController, PrincipalController],
  providers: [
    KeyStore,
    AccessTokenVerifier,
    AccessTokenStrategy,
    ClientRegistry,
    GrantsService,
    AuthorizationServer,
    RouteAccessCheck,
    { provide: APP_GUARD, useClass: AccessGuard },
  ],
  exports: [AuthorizationServer, ClientRegistry, GrantsService],
})
export class OAuthModule {}
