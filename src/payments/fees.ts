/**
 * The platform's fee, in basis points (1/100 of a percent) of the captured amount, and what a refund
 * gives back of it. Pure functions on bigint minor units.
 *
 * Rounding rule (README "Fees"): the fee is rounded half up to a whole minor unit:
 *   fee = floor((amount × bps + 5,000) / 10,000)
 * so at 60 bps 1 fen pays 0 (0.006 fen), 83 fen pays 0 (0.498), 84 fen pays 1 (0.504), 99 fen pays 1
 * (0.594), RMB 99.99 pays 60 fen (59.994). A fee of 0 moves nothing. The fee never exceeds the amount.
 *
 * Refund rule: after refunds totalling R of a captured amount C that paid fee F, the fee returned in
 * total is floor(F × R / C); each refund returns that total less what earlier refunds returned. Being a
 * floor of a monotone total, the returns never add up to more than F, and a full refund (R = C) returns
 * exactly F.
 */
export const BASIS_POINTS = 10_000n;

export function platformFee(amountMinor: bigint, feeBasisPoints: number): bigint {
  if (amountMinor < 0n) throw new Error('platformFee: a negative amount');
  if (!Number.isInteger(feeBasisPoints) || feeBasisPoints < 0 || feeBasisPoints > 10_000)
    throw new Error('platformFee: basis points must be a whole number from 0 to 10,000');
  const fee = (amountMinor * BigInt(feeBasisPoints) + BASIS_POINTS / 2n) / BASIS_POINTS;
  if (fee > amountMinor) throw new Error('platformFee: the fee exceeds the amount');
  return fee;
}

export interface FeeRefundInput {
  /** What the payment captured (C) and the fee it paid (F). */
  readonly capturedMinor: bigint;
  readonly feeMinor: bigint;
  /** Refunded, and fee returned, before this refund. */
  readonly refundedBeforeMinor: bigint;
  readonly feeReturnedBeforeMinor: bigint;
  /** This refund. */
  readonly refundMinor: bigint;
}

/** The part of the fee this refund returns to the payer (see the rule above). */
export function feeReturnedByRefund(input: FeeRefundInput): bigint {
  const { capturedMinor, feeMinor, refundedBeforeMinor, feeReturnedBeforeMinor, refundMinor } = input;
  if (capturedMinor <= 0n || refundMinor <= 0n) throw new Error('feeReturnedByRefund: nothing captured or nothing refunded');
  const refundedAfter = refundedBeforeMinor + refundMinor;
  if (refundedAfter > capturedMinor) throw new Error('feeReturnedByRefund: refunds would exceed the captured amount');
  const returnedAfter = (feeMinor * refundedAfter) / capturedMinor;
  const returned = returnedAfter - feeReturnedBeforeMinor;
  if (returned < 0n || returnedAfter > feeMinor) throw new Error('feeReturnedByRefund: the fee returned would be out of bounds');
  return returned;
}
