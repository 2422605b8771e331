import { DomainError, type DomainErrorOptions, ErrorKind } from '../common/errors/domain-error.js';

export enum UsersErrorCode {
  UserNotFound = 'USER_NOT_FOUND',
  LoginInvalid = 'LOGIN_INVALID',
}

export class UsersError extends DomainError {
  constructor(kind: ErrorKind, code: UsersErrorCode, detail: string, options?: DomainErrorOptions) {
    super(kind, code, detail, options);
  }
}
