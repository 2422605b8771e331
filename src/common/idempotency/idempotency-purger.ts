import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { IdempotencyService } from './idempotency.service.js';

const PURGE_INTERVAL_MS = 10 * 60 * 1000;

/** Deletes expired idempotency keys every ten minutes. Every instance may run it; deletes do not collide. */
@Injectable()
export class IdempotencyPurger implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(IdempotencyPurger.name);
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly keys: IdempotencyService) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      if (this.running === undefined) this.running = this.purge().finally(() => (this.running = undefined));
    }, PURGE_INTERVAL_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.running;
  }

  private async purge(): Promise<void> {
    try {
      const purged = await this.keys.purgeExpired();
      if (purged > 0) this.logger.log({ purged }, 'expired idempotency keys purged');
    } catch (error) {
      this.logger.warn({ err: error }, 'purging idempotency keys failed; will try again');
    }
  }
}
