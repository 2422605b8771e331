import { Module } from '@nestjs/common';
import { OAuthModule } from '../oauth/oauth.module.js';
import { UsersModule } from '../users/users.module.js';
import { WaiversModule } from '../waivers/waivers.module.js';
import { DemoSeeder } from './demo-seeder.js';

@Module({
  imports: [OAuthModule, UsersModule, WaiversModule],
  providers: [DemoSeeder],
  exports: [DemoSeeder],
})
export class DemoModule {}
