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
  /**
   * The handler writes the key, with its response, inside the transaction that makes its change
   * (`@KeyToClaim()`, IdempotencyService.keepWithin): no separate commit before and after the
   * change, and no key left "in progress" behind a change that committed. A
   * duplicate sent while the first runs is answered with the first one's outcome once it commits
   * (or 409 if it kept nothing), rather than 409 at once. For hot routes that batch their writes.
   */
  readonly claimedInTransaction?: boolean;
}
