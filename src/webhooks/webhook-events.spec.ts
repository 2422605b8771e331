import { describe, expect, it } from '@jest/globals';
import { DELIVERY_WINDOW_MS, RETRY_BASE_MS, RETRY_MAX_MS, retryDelayMs } from './webhook-events.js';

describe('webhook retry schedule', () => {
  it('doubles from the base, between half and all of the step', () => {
    expect(retryDelayMs(1, () => 0)).toBe(RETRY_BASE_MS / 2);
    expect(retryDelayMs(1, () => 1)).toBe(RETRY_BASE_MS);
    expect(retryDelayMs(2, () => 1)).toBe(2 * RETRY_BASE_MS);
    expect(retryDelayMs(4, () => 0.5)).toBe(Math.round(8 * RETRY_BASE_MS * 0.75));
  });

  it('is capped, and keeps retrying through the whole 24-hour window', () => {
    expect(retryDelayMs(40, () => 1)).toBe(RETRY_MAX_MS);
    let elapsed = 0;
    let attempts = 0;
    while (elapsed < DELIVERY_WINDOW_MS) {
      attempts += 1;
      elapsed += retryDelayMs(attempts, () => 1);
    }
    expect(attempts).toBeGreaterThan(10);
    expect(attempts).toBeLessThan(40);
  });
});
