import { applyDecorators, SetMetadata, UseInterceptors } from '@nestjs/common';
import { IdempotencyInterceptor } from './idempotency.interceptor.js';
import { IDEMPOTENT_METADATA, type IdempotentOptions } from './idempotency.metadata.js';

/**
 * Marks a route that creates or moves something: an `Idempotency-Key` header makes a retry safe.
 * The same key and body replays the first response; another body is 422; a retry while the first is
 * still running is 409. Keys are scoped to the calling client.
 */
export const Idempotent = (options: IdempotentOptions = {}): MethodDecorator =>
  applyDecorators(
    SetMetadata(IDEMPOTENT_METADATA, {
      required: options.required ?? true,
      withheldOnReplay: options.withheldOnReplay ?? [],
      claimedInTransaction: options.claimedInTransaction ?? false,
    } satisfies IdempotentOptions),
    UseInterceptors(IdempotencyInterceptor),
  );
