export const IDEMPOTENT_METADATA = 'creditgate:idempotent';

export interface IdempotentOptions {
  /** Refuse the request with 400 when it has no Idempotency-Key (default true). */
  readonly required?: boolean;
  /**
   * Top-level fields of the response that are not kept for replay (stored, and replayed, as null): a
   * secret shown once, such as a new client's secret, must not sit in clear in `idempotency_keys` for
   * the keys' lifetime, nor be handed out again to whoever repeats the request.
   */
  readonly withheldOnReplay?: readonly string[];
}
