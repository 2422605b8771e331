import { type DynamicModule, Module, type Type } from '@nestjs/common';
import { AuditModule } from './audit/audit.module.js';
import { Clock } from './common/clock/clock.js';
import { ComplianceModule } from './compliance/compliance.module.js';
import { ConsoleModule } from './console/console.module.js';
import { CommonModule } from './common/common.module.js';
import { AppConfig } from './config/app-config.js';
import { AppConfigModule } from './config/config.module.js';
import { CreditModule } from './credit/credit.module.js';
import { DatabaseModule } from './database/database.module.js';
import { DemoModule } from './demo/demo.module.js';
import { HealthModule } from './health/health.module.js';
import { IdentityModule } from './identity/identity.module.js';
import { LedgerModule } from './ledger/ledger.module.js';
import { OAuthModule } from './oauth/oauth.module.js';
import { PaymentsModule } from './payments/payments.module.js';
import { UsersModule } from './users/users.module.js';
import { WaiversModule } from './waivers/waivers.module.js';
import { WebhooksModule } from './webhooks/webhooks.module.js';

export interface AppModuleOptions {
  /** Test-only modules mounted beside the application's own; production passes none. */
  readonly extraModules?: readonly (Type | DynamicModule)[];
  /** Replaces the system clock (tests). */
  readonly clock?: Clock;
}

@Module({})
export class AppModule {
  static forRoot(config: AppConfig, options: AppModuleOptions = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        AppConfigModule.forRoot(config),
        DatabaseModule.forRoot(),
        CommonModule.forRoot({ clock: options.clock }),
        HealthModule,
        AuditModule,
        UsersModule,
        OAuthModule,
        LedgerModule,
        IdentityModule,
        CreditModule,
        WebhooksModule,
        PaymentsModule,
        WaiversModule,
        ComplianceModule,
        ConsoleModule,
        DemoModule,
        ...(options.extraModules ?? []),
      ],
    };
  }
}
