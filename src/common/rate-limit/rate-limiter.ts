import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { CommonError, CommonErrorCode, ErrorKind } from '../errors/domain-error.js';

/**
 * A named fixed-window limit (rate-limiter-flexible, in this instance's memory). Limits protect
 * against brute force and abuse; they are not part of any correctness argument, so per-instance
 * counting is enough (N instances allow at most N times the limit).
 */
export class RateLimit {
  private readonly limiter: RateLimiterMemory;

  constructor(
    readonly name: string,
    readonly points: number,
    readonly durationSeconds: number,
  ) {
    if (!Number.isInteger(points) || points < 1) throw new Error(`rate limit ${name} needs a positive whole number of points`);
    this.limiter = new RateLimiterMemory({ points, duration: durationSeconds, keyPrefix: name });
  }

  /** Takes one point for `key`; when none is left, the error says when to retry. */
  async consume(key: string): Promise<void> {
    try {
      await this.limiter.consume(key);
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) {
        throw new CommonError(ErrorKind.RateLimited, CommonErrorCode.RateLimited, `Too many requests (${this.name}); retry later.`, {
          retryAfterSeconds: Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)),
        });
      }
      throw rejection;
    }
  }

  /** Forgets the count for `key` (after a successful sign-in, say). */
  async reset(key: string): Promise<void> {
    await this.limiter.delete(key);
  }
}
