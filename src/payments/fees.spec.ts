import { describe, expect, it } from '@jest/globals';
import { feeReturnedByRefund, platformFee } from './fees.js';

describe('the platform fee', () => {
  it.each([
    [1n, 60, 0n],
    [83n, 60, 0n],
    [84n, 60, 1n],
    [99n, 60, 1n],
    [166n, 60, 1n],
    [167n, 60, 1n],
    [250n, 60, 2n],
    [9999n, 60, 60n],
    [12345n, 60, 74n],
    [1n, 10_000, 1n],
    [1n, 5000, 1n],
    [3n, 5000, 2n],
    [9_007_199_254_740_991n, 60, 54_043_195_528_446n],
    [500n, 0, 0n],
  ])('on %s at %s bps is %s (half up)', (amount, bps, fee) => {
    expect(platformFee(amount, bps)).toBe(fee);
  });

  it('refuses basis points out of range', () => {
    expect(() => platformFee(100n, 10_001)).toThrow('basis points');
    expect(() => platformFee(100n, 1.5)).toThrow('basis points');
  });
});

describe('the fee a refund returns', () => {
  it('returns the whole fee on a full refund, and the floor of the proportion on a part', () => {
    expect(
      feeReturnedByRefund({ capturedMinor: 9999n, feeMinor: 60n, refundedBeforeMinor: 0n, feeReturnedBeforeMinor: 0n, refundMinor: 9999n }),
    ).toBe(60n);
    expect(
      feeReturnedByRefund({ capturedMinor: 9999n, feeMinor: 60n, refundedBeforeMinor: 0n, feeReturnedBeforeMinor: 0n, refundMinor: 5000n }),
    ).toBe(30n);
    expect(
      feeReturnedByRefund({ capturedMinor: 99n, feeMinor: 1n, refundedBeforeMinor: 0n, feeReturnedBeforeMinor: 0n, refundMinor: 98n }),
    ).toBe(0n);
  });

  it('never returns more than was charged, however the refunds are split', () => {
    for (const captured of [1n, 7n, 99n, 101n, 9999n, 12345n]) {
      const fee = platformFee(captured, 60) + 3n > captured ? platformFee(captured, 60) : platformFee(captured, 60) + 3n;
      let refunded = 0n;
      let returned = 0n;
      let step = 1n;
      while (refunded < captured) {
        const refund = step > captured - refunded ? captured - refunded : step;
        const back = feeReturnedByRefund({
          capturedMinor: captured,
          feeMinor: fee,
          refundedBeforeMinor: refunded,
          feeReturnedBeforeMinor: returned,
          refundMinor: refund,
        });
        expect(back).toBeGreaterThanOrEqual(0n);
        expect(back).toBeLessThanOrEqual(refund);
        refunded += refund;
        returned += back;
        expect(returned).toBeLessThanOrEqual(fee);
        step = step * 3n + 1n;
      }
      expect(returned).toBe(fee);
    }
  });

  it('refuses a refund beyond the captured amount', () => {
    expect(() =>
      feeReturnedByRefund({ capturedMinor: 10n, feeMinor: 0n, refundedBeforeMinor: 5n, feeReturnedBeforeMinor: 0n, refundMinor: 6n }),
    ).toThrow('exceed');
  });
});
