import { DomainError, type DomainErrorOptions, ErrorKind } from '../common/errors/domain-error.js';
import { IdNumberProblem } from './resident-id-number.js';

/** Stable codes of the identity module; documented in the README. No detail ever holds a name or a number. */
export enum IdentityErrorCode {
  // The ID-number rules' own codes (IdNumberProblem), as the issue names them.
  InvalidFormat = 'INVALID_FORMAT',
  InvalidRegion = 'INVALID_REGION',
  InvalidBirthDate = 'INVALID_BIRTH_DATE',
  ChecksumMismatch = 'CHECKSUM_MISMATCH',
  InvalidName = 'INVALID_NAME',
  NameMismatch = 'NAME_MISMATCH',
  IdentityNotFound = 'IDENTITY_NOT_FOUND',
  AuthorityUnavailable = 'AUTHORITY_UNAVAILABLE',
  AlreadyBound = 'ALREADY_BOUND',
  AlreadyVerified = 'ALREADY_VERIFIED',
  TooManyAttempts = 'TOO_MANY_ATTEMPTS',
}

export class IdentityError extends DomainError {
  constructor(kind: ErrorKind, code: IdentityErrorCode, detail: string, options?: DomainErrorOptions) {
    super(kind, code, detail, options);
  }
}

const ID_NUMBER_DETAIL: Record<IdNumberProblem, string> = {
  [IdNumberProblem.InvalidFormat]: 'An ID number has 17 digits and a check character (a digit or X).',
  [IdNumberProblem.InvalidRegion]: 'The ID number does not start with a province-level region code.',
  [IdNumberProblem.InvalidBirthDate]: 'The birth date in the ID number is not a real date, or is in the future.',
  [IdNumberProblem.ChecksumMismatch]: 'The check character of the ID number does not match the other seventeen.',
};

const ID_NUMBER_CODE: Record<IdNumberProblem, IdentityErrorCode> = {
  [IdNumberProblem.InvalidFormat]: IdentityErrorCode.InvalidFormat,
  [IdNumberProblem.InvalidRegion]: IdentityErrorCode.InvalidRegion,
  [IdNumberProblem.InvalidBirthDate]: IdentityErrorCode.InvalidBirthDate,
  [IdNumberProblem.ChecksumMismatch]: IdentityErrorCode.ChecksumMismatch,
};

export function idNumberRefused(problem: IdNumberProblem): IdentityError {
  const detail = ID_NUMBER_DETAIL[problem];
  return new IdentityError(ErrorKind.Unprocessable, ID_NUMBER_CODE[problem], detail, {
    errors: [{ field: 'idNumber', rule: problem, message: detail }],
  });
}
