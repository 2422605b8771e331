import { DomainError, type DomainErrorOptions, ErrorKind } from '../common/errors/domain-error.js';

export enum OAuthErrorCode {
  TokenMissing = 'TOKEN_MISSING',
  TokenInvalid = 'TOKEN_INVALID',
  DpopProofInvalid = 'DPOP_PROOF_INVALID',
  InsufficientScope = 'INSUFFICIENT_SCOPE',
  WrongCaller = 'WRONG_CALLER',
  MerchantNotFound = 'MERCHANT_NOT_FOUND',
  ClientNotFound = 'CLIENT_NOT_FOUND',
  ClientInvalid = 'CLIENT_INVALID',
  GrantNotFound = 'GRANT_NOT_FOUND',
  SignUpRefused = 'SIGN_UP_REFUSED',
}

const REALM = 'creditgate';

export class OAuthError extends DomainError {
  constructor(kind: ErrorKind, code: OAuthErrorCode, detail: string, options?: DomainErrorOptions) {
    super(kind, code, detail, options);
  }

  /** 401: no token; RFC 6750 §3.1 says to send no error code then. */
  static tokenMissing(): OAuthError {
    return new OAuthError(
      ErrorKind.Unauthenticated,
      OAuthErrorCode.TokenMissing,
      'This route needs an access token: send it as `Authorization: Bearer <token>`.',
      {
        headers: { 'www-authenticate': `Bearer realm="${REALM}", DPoP realm="${REALM}", algs="ES256 EdDSA"` },
      },
    );
  }

  /** 401 `invalid_token`: the detail says what kind of problem without echoing the token. */
  static tokenInvalid(detail: string, scheme: 'Bearer' | 'DPoP' = 'Bearer'): OAuthError {
    return new OAuthError(ErrorKind.Unauthenticated, OAuthErrorCode.TokenInvalid, detail, {
      headers: {
        'www-authenticate': `${scheme} realm="${REALM}", error="invalid_token", error_description="${detail.replace(/["\\]/g, '')}"`,
      },
    });
  }

  static dpopProofInvalid(detail: string): OAuthError {
    return new OAuthError(ErrorKind.Unauthenticated, OAuthErrorCode.DpopProofInvalid, detail, {
      headers: {
        'www-authenticate': `DPoP realm="${REALM}", error="invalid_dpop_proof", error_description="${detail.replace(/["\\]/g, '')}", algs="ES256 EdDSA"`,
      },
    });
  }

  /** 403 `insufficient_scope`, naming what the route needs. */
  static insufficientScope(needed: readonly string[], description: string): OAuthError {
    return new OAuthError(ErrorKind.Forbidden, OAuthErrorCode.InsufficientScope, `This route needs ${description}.`, {
      headers: { 'www-authenticate': `Bearer realm="${REALM}", error="insufficient_scope", scope="${needed.join(' ')}"` },
      extensions: { requiredScopes: [...needed] },
    });
  }

  static wrongCaller(detail: string): OAuthError {
    return new OAuthError(ErrorKind.Forbidden, OAuthErrorCode.WrongCaller, detail, {
      headers: { 'www-authenticate': `Bearer realm="${REALM}", error="insufficient_scope"` },
    });
  }
}
