/**
 * What kind of failure an error is. The problem-details filter maps kinds to HTTP statuses, so services
 * say what went wrong in domain terms and never pick a status code themselves.
 */
export enum ErrorKind {
  InvalidInput = 'INVALID_INPUT',
  Unauthenticated = 'UNAUTHENTICATED',
  Forbidden = 'FORBIDDEN',
  NotFound = 'NOT_FOUND',
  MethodNotAllowed = 'METHOD_NOT_ALLOWED',
  Conflict = 'CONFLICT',
  Gone = 'GONE',
  PayloadTooLarge = 'PAYLOAD_TOO_LARGE',
  UnsupportedMediaType = 'UNSUPPORTED_MEDIA_TYPE',
  Unprocessable = 'UNPROCESSABLE',
  RateLimited = 'RATE_LIMITED',
  Internal = 'INTERNAL',
  Unavailable = 'UNAVAILABLE',
}

export interface FieldError {
  /** The field's path in the request, dotted (`items.0.amountMinor`). */
  readonly field: string;
  /** The rule it broke (`isInt`, `maxLength`, `whitelistValidation`, ...). */
  readonly rule: string;
  readonly message: string;
}

export interface DomainErrorOptions {
  /** Extra members for the problem document (must not hold PII or secrets). */
  readonly extensions?: Record<string, unknown>;
  readonly errors?: readonly FieldError[];
  /** Seconds after which a retry may succeed (sent as `Retry-After`). */
  readonly retryAfterSeconds?: number;
  /** Response headers the error calls for (`WWW-Authenticate` on 401 and 403). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly cause?: unknown;
}

/**
 * The base of every error a service throws on purpose. `code` is stable and documented: clients branch
 * on it. `detail` is for people and must never carry PII, secrets or SQL.
 */
export class DomainError extends Error {
  readonly extensions: Record<string, unknown>;
  readonly errors: readonly FieldError[] | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    readonly kind: ErrorKind,
    readonly code: string,
    readonly detail: string,
    options: DomainErrorOptions = {},
  ) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.extensions = options.extensions ?? {};
    this.errors = options.errors;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.headers = options.headers ?? {};
  }
}

/** Codes of the errors that belong to no single module. */
export enum CommonErrorCode {
  ValidationFailed = 'VALIDATION_FAILED',
  RouteNotFound = 'ROUTE_NOT_FOUND',
  MethodNotAllowed = 'METHOD_NOT_ALLOWED',
  MalformedJson = 'MALFORMED_JSON',
  PayloadTooLarge = 'PAYLOAD_TOO_LARGE',
  UnsupportedMediaType = 'UNSUPPORTED_MEDIA_TYPE',
  BadRequest = 'BAD_REQUEST',
  BodyTooDeep = 'BODY_TOO_DEEP',
  HeadersTooLarge = 'HEADERS_TOO_LARGE',
  RequestTimeout = 'REQUEST_TIMEOUT',
  Unauthenticated = 'UNAUTHENTICATED',
  Forbidden = 'FORBIDDEN',
  NotFound = 'NOT_FOUND',
  Conflict = 'CONFLICT',
  RateLimited = 'RATE_LIMITED',
  InvalidCursor = 'INVALID_CURSOR',
  InvalidAmount = 'INVALID_AMOUNT',
  InvalidCurrency = 'INVALID_CURRENCY',
  IdempotencyKeyRequired = 'IDEMPOTENCY_KEY_REQUIRED',
  IdempotencyKeyInvalid = 'IDEMPOTENCY_KEY_INVALID',
  IdempotencyKeyReused = 'IDEMPOTENCY_KEY_REUSED',
  IdempotencyRequestInProgress = 'IDEMPOTENCY_REQUEST_IN_PROGRESS',
  ServiceUnavailable = 'SERVICE_UNAVAILABLE',
  InternalError = 'INTERNAL_ERROR',
}

export class CommonError extends DomainError {
  constructor(kind: ErrorKind, code: CommonErrorCode, detail: string, options?: DomainErrorOptions) {
    super(kind, code, detail, options);
  }
}
