import { DomainError, type DomainErrorOptions, ErrorKind } from '../common/errors/domain-error.js';

/** Stable codes of the waivers module (policies, decisions, deposit agreements). */
export enum WaiversErrorCode {
  PolicyNotFound = 'POLICY_NOT_FOUND',
  PolicyVersionNotFound = 'POLICY_VERSION_NOT_FOUND',
  DecisionNotFound = 'DECISION_NOT_FOUND',
  DecisionExpired = 'DECISION_EXPIRED',
  DecisionUsed = 'DECISION_USED',
  AgreementNotFound = 'AGREEMENT_NOT_FOUND',
  AgreementLimitReached = 'AGREEMENT_LIMIT_REACHED',
  InsufficientFunds = 'INSUFFICIENT_FUNDS',
  InvalidTransition = 'INVALID_TRANSITION',
  ChargeTooLarge = 'CHARGE_TOO_LARGE',
  ClaimTooLarge = 'CLAIM_TOO_LARGE',
}

export class WaiversError extends DomainError {
  constructor(kind: ErrorKind, code: WaiversErrorCode, detail: string, options?: DomainErrorOptions) {
    super(kind, code, detail, options);
  }
}

export { ErrorKind };
