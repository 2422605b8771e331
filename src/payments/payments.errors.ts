import { DomainError, type DomainErrorOptions, ErrorKind } from '../common/errors/domain-error.js';

export enum PaymentsErrorCode {
  PaymentIntentNotFound = 'PAYMENT_INTENT_NOT_FOUND',
  PaymentIntentUnexpectedState = 'PAYMENT_INTENT_UNEXPECTED_STATE',
  PaymentIntentExpired = 'PAYMENT_INTENT_EXPIRED',
  InsufficientFunds = 'INSUFFICIENT_FUNDS',
  InsufficientMerchantBalance = 'INSUFFICIENT_MERCHANT_BALANCE',
  CaptureExceedsAuthorized = 'CAPTURE_EXCEEDS_AUTHORIZED',
  RefundExceedsCaptured = 'REFUND_EXCEEDS_CAPTURED',
  RefundNotFound = 'REFUND_NOT_FOUND',
  PayoutNotFound = 'PAYOUT_NOT_FOUND',
  AmountTooLarge = 'AMOUNT_TOO_LARGE',
  MerchantNotFound = 'MERCHANT_NOT_FOUND',
}

const KIND: Record<PaymentsErrorCode, ErrorKind> = {
  [PaymentsErrorCode.PaymentIntentNotFound]: ErrorKind.NotFound,
  [PaymentsErrorCode.PaymentIntentUnexpectedState]: ErrorKind.Conflict,
  [PaymentsErrorCode.PaymentIntentExpired]: ErrorKind.Conflict,
  [PaymentsErrorCode.InsufficientFunds]: ErrorKind.Unprocessable,
  [PaymentsErrorCode.InsufficientMerchantBalance]: ErrorKind.Unprocessable,
  [PaymentsErrorCode.CaptureExceedsAuthorized]: ErrorKind.Unprocessable,
  [PaymentsErrorCode.RefundExceedsCaptured]: ErrorKind.Unprocessable,
  [PaymentsErrorCode.RefundNotFound]: ErrorKind.NotFound,
  [PaymentsErrorCode.PayoutNotFound]: ErrorKind.NotFound,
  [PaymentsErrorCode.AmountTooLarge]: ErrorKind.InvalidInput,
  [PaymentsErrorCode.MerchantNotFound]: ErrorKind.NotFound,
};

/** A refusal of the payments module, with a stable code. */
export class PaymentsError extends DomainError {
  constructor(code: PaymentsErrorCode, detail: string, options?: DomainErrorOptions) {
    super(KIND[code], code, detail, options);
  }
}

export const intentNotFound = (): PaymentsError =>
  new PaymentsError(PaymentsErrorCode.PaymentIntentNotFound, 'No payment intent with this id.');
