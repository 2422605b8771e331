import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { PeriodicTask } from '../periodic-task.js';
import { IdempotencyService } from './idempotency.service.js';

const PURGE_INTERVAL_MS = 10 * 60 * 1000;

/** Deletes expired idempotency keys every ten minutes. Every instance may run it; deletes do not collide. */
@Injectable()
export class IdempotencyPurger implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(IdempotencyPurger.name);
  private readonly task = new PeriodicTask('purging idempotency keys', () => this.purge(), this.logger);

  constructor(private readonly keys: IdempotencyService) {}

  onApplicationBootstrap(): void {
    this.task.start(PURGE_INTERVAL_MS);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.task.stop();
  }

  private async purge(): Promise<void> {
    const purged = await this.keys.purgeExpired();
    if (purged > 0) this.logger.log({ purged }, 'expired idempotency keys purged');
  }
}
