import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module.js';
import { WebhookDispatcher } from './webhook-dispatcher.js';
import { WebhookEndpointsService } from './webhook-endpoints.service.js';
import { WebhookOutbox } from './webhook-outbox.js';
import { WebhookSecretCipher } from './webhook-secret-cipher.js';
import { WebhooksController } from './webhooks.controller.js';

/** Webhooks: endpoints, the outbox other modules write to in their own transactions, and the dispatcher. */
@Module({
  imports: [AuditModule],
  controllers: [WebhooksController],
  providers: [WebhookOutbox, WebhookEndpointsService, WebhookDispatcher, WebhookSecretCipher],
  exports: [WebhookOutbox, WebhookDispatcher],
})
export class WebhooksModule {}
