export const IDEMPOTENT_METADATA = 'creditgate:idempotent';

export interface IdempotentOptions {
  /** Refuse the request with 400 when it has no Idempotency-Key (default true). */
  readonly required?: boolean;
}
