import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { PeriodicTask } from '../common/periodic-task.js';
import { AppConfig } from '../config/app-config.js';
import { PaymentIntentsService } from './payment-intents.service.js';

/** Expires lapsed authorisations on the ledger's sweep interval (EXPIRY_SWEEP_INTERVAL_MS; 0: tests drive it). */
@Injectable()
export class IntentExpirySweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly task = new PeriodicTask(
    'expiring payment authorisations',
    () => this.intents.expireDue(),
    new Logger(IntentExpirySweeper.name),
  );

  constructor(
    private readonly intents: PaymentIntentsService,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.task.start(this.config.expirySweepIntervalMs);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.task.stop();
  }
}
