import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { PaymentIntentsService } from './payment-intents.service.js';

/** Expires lapsed authorisations on the ledger's sweep interval (EXPIRY_SWEEP_INTERVAL_MS; 0: tests drive it). */
@Injectable()
export class IntentExpirySweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(IntentExpirySweeper.name);
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(
    private readonly intents: PaymentIntentsService,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.expirySweepIntervalMs === 0) return;
    this.timer = setInterval(() => {
      if (this.running !== undefined) return;
      this.running = this.intents
        .expireDue()
        .catch((error: unknown) => {
          this.logger.warn({ err: error }, 'expiring payment authorisations failed; will try again');
          return 0;
        })
        .finally(() => (this.running = undefined));
    }, this.config.expirySweepIntervalMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.running;
  }
}
