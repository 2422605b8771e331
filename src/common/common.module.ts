import { type DynamicModule, Global, Module } from '@nestjs/common';
import { Clock, SystemClock } from './clock/clock.js';
import { IdempotencyPurger } from './idempotency/idempotency-purger.js';
import { IdempotencyInterceptor } from './idempotency/idempotency.interceptor.js';
import { IdempotencyService } from './idempotency/idempotency.service.js';
import { ReadRound } from './read-round.js';

/**
 * Building blocks every module uses: the clock, idempotency keys and the shared read round. Global
 * because they are cross-cutting in the way configuration is; everything else a module needs it
 * imports by name.
 */
@Global()
@Module({})
export class CommonModule {
  /** `clock` replaces the system clock (tests pass a ManualClock). */
  static forRoot(options: { clock?: Clock } = {}): DynamicModule {
    return {
      module: CommonModule,
      providers: [
        { provide: Clock, useValue: options.clock ?? new SystemClock() },
        IdempotencyService,
        IdempotencyPurger,
        IdempotencyInterceptor,
        ReadRound,
      ],
      exports: [Clock, IdempotencyService, IdempotencyInterceptor, ReadRound],
    };
  }
}
