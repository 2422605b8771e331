import { Module } from '@nestjs/common';
import { OAuthModule } from '../oauth/oauth.module.js';
import { ConsoleController, ConsoleClientBootstrap } from './console.controller.js';

/** The compliance console: a page, its script and style, and its first-party OAuth client. */
@Module({
  imports: [OAuthModule],
  controllers: [ConsoleController],
  providers: [ConsoleClientBootstrap],
})
export class ConsoleModule {}
