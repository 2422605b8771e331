import { DomainError, type DomainErrorOptions, ErrorKind } from '../common/errors/domain-error.js';

export enum LedgerErrorCode {
  AccountNotFound = 'ACCOUNT_NOT_FOUND',
  AccountClosed = 'ACCOUNT_CLOSED',
  AccountHasPending = 'ACCOUNT_HAS_PENDING',
  AccountCodeTaken = 'ACCOUNT_CODE_TAKEN',
  AccountsMustDiffer = 'ACCOUNTS_MUST_DIFFER',
  CurrencyMismatch = 'CURRENCY_MISMATCH',
  ExceedsCredits = 'EXCEEDS_CREDITS',
  ExceedsDebits = 'EXCEEDS_DEBITS',
  TransferExistsWithDifferentFields = 'TRANSFER_EXISTS_WITH_DIFFERENT_FIELDS',
  TransferNotFound = 'TRANSFER_NOT_FOUND',
  PendingTransferNotFound = 'PENDING_TRANSFER_NOT_FOUND',
  NotPending = 'NOT_PENDING',
  PendingTransferAlreadyResolved = 'PENDING_TRANSFER_ALREADY_RESOLVED',
  PendingTransferExpired = 'PENDING_TRANSFER_EXPIRED',
  PendingTransferNotDue = 'PENDING_TRANSFER_NOT_DUE',
  AmountExceedsPending = 'AMOUNT_EXCEEDS_PENDING',
  LinkedTransferFailed = 'LINKED_TRANSFER_FAILED',
  BatchTooLarge = 'BATCH_TOO_LARGE',
  Overflow = 'OVERFLOW',
  InvalidCommand = 'INVALID_COMMAND',
}

const KIND: Record<LedgerErrorCode, ErrorKind> = {
  [LedgerErrorCode.AccountNotFound]: ErrorKind.Unprocessable,
  [LedgerErrorCode.AccountClosed]: ErrorKind.Unprocessable,
  [LedgerErrorCode.AccountHasPending]: ErrorKind.Conflict,
  [LedgerErrorCode.AccountCodeTaken]: ErrorKind.Conflict,
  [LedgerErrorCode.AccountsMustDiffer]: ErrorKind.Unprocessable,
  [LedgerErrorCode.CurrencyMismatch]: ErrorKind.Unprocessable,
  [LedgerErrorCode.ExceedsCredits]: ErrorKind.Unprocessable,
  [LedgerErrorCode.ExceedsDebits]: ErrorKind.Unprocessable,
  [LedgerErrorCode.TransferExistsWithDifferentFields]: ErrorKind.Conflict,
  [LedgerErrorCode.TransferNotFound]: ErrorKind.NotFound,
  [LedgerErrorCode.PendingTransferNotFound]: ErrorKind.NotFound,
  [LedgerErrorCode.NotPending]: ErrorKind.Unprocessable,
  [LedgerErrorCode.PendingTransferAlreadyResolved]: ErrorKind.Conflict,
  [LedgerErrorCode.PendingTransferExpired]: ErrorKind.Unprocessable,
  [LedgerErrorCode.PendingTransferNotDue]: ErrorKind.Unprocessable,
  [LedgerErrorCode.AmountExceedsPending]: ErrorKind.Unprocessable,
  [LedgerErrorCode.LinkedTransferFailed]: ErrorKind.Unprocessable,
  [LedgerErrorCode.BatchTooLarge]: ErrorKind.InvalidInput,
  [LedgerErrorCode.Overflow]: ErrorKind.Unprocessable,
  [LedgerErrorCode.InvalidCommand]: ErrorKind.InvalidInput,
};

/** A ledger refusal. `code` is stable; `extensions` name the transfer, account or field involved. */
export class LedgerError extends DomainError {
  constructor(
    readonly ledgerCode: LedgerErrorCode,
    detail: string,
    options?: DomainErrorOptions,
  ) {
    super(KIND[ledgerCode], ledgerCode, detail, options);
  }
}
