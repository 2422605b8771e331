import { SetMetadata } from '@nestjs/common';

export const IDEMPOTENT_METADATA = 'creditgate:idempotent';

export interface IdempotentOptions {
  /** Refuse the request with 400 when it has no Idempotency-Key (default true). */
  readonly required?: boolean;
}

/**
 * Marks a route that creates or moves something: an `Idempotency-Key` header makes a retry safe.
 * The same key and body replays the first response; another body is 422; a retry while the first is
 * still running is 409. Keys are scoped to the calling client.
 */
export const Idempotent = (options: IdempotentOptions = {}): MethodDecorator =>
  SetMetadata(IDEMPOTENT_METADATA, { required: options.required ?? true } satisfies IdempotentOptions);
