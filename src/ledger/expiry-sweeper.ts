import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Clock } from '../common/clock/clock.js';
import { PeriodicTask } from '../common/periodic-task.js';
import { AppConfig } from '../config/app-config.js';
import { defaultResolutionId } from './ledger.service.js';
import type { Resolution } from './ledger.types.js';
import { PostingEngine } from './posting-engine.js';

const SWEEP_BATCH = 500;

/**
 * Expires pending transfers past their timeout. Safe with several instances: each expiry has the
 * same id everywhere (derived from the pending transfer), and a pending transfer can be resolved only
 * once (a unique index), so two sweepers racing for one item both get the one result and the second
 * changes nothing.
 */
@Injectable()
export class ExpirySweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly task = new PeriodicTask('expiring pending transfers', () => this.sweep(), new Logger(ExpirySweeper.name));

  constructor(
    private readonly dataSource: DataSource,
    private readonly engine: PostingEngine,
    private readonly clock: Clock,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.task.start(this.config.expirySweepIntervalMs);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.task.stop();
  }

  /** Expires every pending transfer due now, in batches; returns how many this call expired. */
  async sweep(): Promise<number> {
    let expired = 0;
    for (;;) {
      const due: { id: string }[] = await this.dataSource.query(
        `SELECT id FROM ledger_transfers WHERE status = 'pending' AND timeout_at <= $1 ORDER BY timeout_at, id LIMIT ${SWEEP_BATCH}`,
        [this.clock.now()],
      );
      if (due.length === 0) return expired;
      const commands: Resolution[] = due.map((row) => ({
        type: 'resolve',
        id: defaultResolutionId(row.id, 'expire'),
        pendingId: row.id,
        action: 'expire',
      }));
      const results = await this.engine.submit({
        commands,
        linked: false,
        audit: (outcome) => {
          const expired = outcome.filter((result) => result.ok && !result.replayed).length;
          return expired === 0
            ? null
            : {
                actor: null,
                action: 'ledger.transfers.expired',
                resourceType: 'ledger_transfer',
                outcome: 'success',
                details: { expired },
                ip: null,
                requestId: null,
                userAgent: null,
              };
        },
      });
      const applied = results.filter((result) => result.ok && !result.replayed).length;
      expired += applied;
      // Every due row was resolved by this call or by another instance; if none changed, stop rather than spin.
      if (applied === 0 || due.length < SWEEP_BATCH) return expired;
    }
  }
}
