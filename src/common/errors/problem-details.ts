import { HttpException, HttpStatus } from '@nestjs/common';
import { CommonErrorCode, DomainError, ErrorKind, type FieldError } from './domain-error.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** An RFC 9457 problem document, with creditgate's stable `code` and, for validation, `errors`. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  code: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

export interface Problem {
  readonly body: ProblemDetails;
  readonly retryAfterSeconds: number | undefined;
  readonly headers?: Readonly<Record<string, string>>;
  /** The original error when it was not one we threw on purpose: logged, never shown. */
  readonly unexpected: unknown;
}

const STATUS_BY_KIND: Record<ErrorKind, number> = {
  [ErrorKind.InvalidInput]: 400,
  [ErrorKind.Unauthenticated]: 401,
  [ErrorKind.Forbidden]: 403,
  [ErrorKind.NotFound]: 404,
  [ErrorKind.MethodNotAllowed]: 405,
  [ErrorKind.Conflict]: 409,
  [ErrorKind.Gone]: 410,
  [ErrorKind.PayloadTooLarge]: 413,
  [ErrorKind.UnsupportedMediaType]: 415,
  [ErrorKind.Unprocessable]: 422,
  [ErrorKind.RateLimited]: 429,
  [ErrorKind.Internal]: 500,
  [ErrorKind.Unavailable]: 503,
};

const TITLE_BY_STATUS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  410: 'Gone',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function statusOfKind(kind: ErrorKind): number {
  return STATUS_BY_KIND[kind];
}

/** `VALIDATION_FAILED` -> `/problems/validation-failed`: a relative URI (RFC 9457 §3.1.1), stable per code. */
export function problemType(code: string): string {
  return `/problems/${code.toLowerCase().replace(/_/g, '-')}`;
}

/** Errors raised by Fastify itself before a handler runs (body parsing, limits), by their `code`. */
const FASTIFY_ERRORS: Record<string, { code: CommonErrorCode; kind: ErrorKind; detail: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: {
    code: CommonErrorCode.MalformedJson,
    kind: ErrorKind.InvalidInput,
    detail: 'The request body is not valid JSON.',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    code: CommonErrorCode.MalformedJson,
    kind: ErrorKind.InvalidInput,
    detail: 'The request body is empty but its content type is JSON.',
  },
  FST_ERR_CTP_BODY_TOO_LARGE: {
    code: CommonErrorCode.PayloadTooLarge,
    kind: ErrorKind.PayloadTooLarge,
    detail: 'The request body is larger than the limit.',
  },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    code: CommonErrorCode.UnsupportedMediaType,
    kind: ErrorKind.UnsupportedMediaType,
    detail: 'The request body has a content type this route does not accept.',
  },
  FST_ERR_BAD_URL: {
    code: CommonErrorCode.BadRequest,
    kind: ErrorKind.InvalidInput,
    detail: 'The URL is malformed.',
  },
  FST_ERR_MAX_PARAM_LENGTH: {
    code: CommonErrorCode.BadRequest,
    kind: ErrorKind.InvalidInput,
    detail: 'A path parameter is longer than any id this API uses.',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    code: CommonErrorCode.BadRequest,
    kind: ErrorKind.InvalidInput,
    detail: 'The Content-Length header does not match the body.',
  },
};

function knownFastifyError(error: unknown): (typeof FASTIFY_ERRORS)[string] | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? FASTIFY_ERRORS[code] : undefined;
}

const CODE_BY_STATUS: Record<number, CommonErrorCode> = {
  400: CommonErrorCode.BadRequest,
  401: CommonErrorCode.Unauthenticated,
  403: CommonErrorCode.Forbidden,
  404: CommonErrorCode.NotFound,
  405: CommonErrorCode.MethodNotAllowed,
  409: CommonErrorCode.Conflict,
  413: CommonErrorCode.PayloadTooLarge,
  415: CommonErrorCode.UnsupportedMediaType,
  429: CommonErrorCode.RateLimited,
  503: CommonErrorCode.ServiceUnavailable,
};

function build(status: number, code: string, detail: string, instance: string, extra: Partial<ProblemDetails> = {}): ProblemDetails {
  return {
    ...extra,
    type: problemType(code),
    title: TITLE_BY_STATUS[status] ?? (status >= 500 ? 'Server Error' : 'Client Error'),
    status,
    detail,
    instance,
    code,
  };
}

/**
 * Turns anything thrown while serving a request into a problem document. Only DomainErrors, Nest's
 * HttpExceptions and Fastify's own client errors keep their detail; anything else becomes a bare 500
 * so that no stack, SQL or internal message reaches a client.
 */
export function problemFromException(exception: unknown, instance: string): Problem {
  if (exception instanceof DomainError) {
    const status = statusOfKind(exception.kind);
    const body = build(status, exception.code, exception.detail, instance, {
      ...exception.extensions,
      ...(exception.errors ? { errors: [...exception.errors] } : {}),
    });
    return {
      body,
      retryAfterSeconds: exception.retryAfterSeconds,
      headers: exception.headers,
      unexpected: status >= 500 ? exception : undefined,
    };
  }
  // Fastify's own errors (body parsing, limits) arrive bare or, through Nest's adapter, as an HttpException's cause.
  const fastifyError =
    knownFastifyError(exception) ?? (exception instanceof HttpException ? knownFastifyError(exception.cause) : undefined);
  if (fastifyError !== undefined) {
    return {
      body: build(statusOfKind(fastifyError.kind), fastifyError.code, fastifyError.detail, instance),
      retryAfterSeconds: undefined,
      unexpected: undefined,
    };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    if (status === HttpStatus.NOT_FOUND && /^Cannot [A-Z]+ /.test(exception.message)) {
      return {
        body: build(404, CommonErrorCode.RouteNotFound, 'No route matches this method and path.', instance),
        retryAfterSeconds: undefined,
        unexpected: undefined,
      };
    }
    const code = CODE_BY_STATUS[status] ?? (status >= 500 ? CommonErrorCode.InternalError : CommonErrorCode.BadRequest);
    const detail = status >= 500 ? 'The server could not complete the request.' : exception.message;
    return { body: build(status, code, detail, instance), retryAfterSeconds: undefined, unexpected: status >= 500 ? exception : undefined };
  }
  const statusCode = typeof exception === 'object' && exception !== null ? (exception as { statusCode?: unknown }).statusCode : undefined;
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    // Another client error raised by Fastify or a plugin: keep the status, not the message.
    const code = CODE_BY_STATUS[statusCode] ?? CommonErrorCode.BadRequest;
    return {
      body: build(statusCode, code, 'The request could not be processed.', instance),
      retryAfterSeconds: undefined,
      unexpected: undefined,
    };
  }
  if (isDatabaseUnavailable(exception)) {
    return {
      body: build(
        503,
        CommonErrorCode.ServiceUnavailable,
        'The database is unavailable; retry shortly with the same Idempotency-Key.',
        instance,
      ),
      retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS,
      unexpected: exception,
    };
  }
  return {
    body: build(500, CommonErrorCode.InternalError, 'The server could not complete the request.', instance),
    retryAfterSeconds: undefined,
    unexpected: exception,
  };
}

const DATABASE_RETRY_AFTER_SECONDS = 1;
/** SQLSTATEs of a database that is down, restarting or full (class 08, shutdowns, too many connections). */
const UNAVAILABLE_SQLSTATES = new Set(['08000', '08001', '08003', '08004', '08006', '57P01', '57P02', '57P03', '53300']);
/** What node and pg say when the connection to the database fails or is cut. */
const UNAVAILABLE_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND']);
const UNAVAILABLE_MESSAGE = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/;

/**
 * Whether an error means the database could not be reached or went away mid-request (TypeORM wraps the
 * driver's error as `driverError`; pg keeps a socket error as `cause`). The outcome of a write cut off
 * this way is unknown to the service too, so the answer is 503 with Retry-After: a retry with the same
 * Idempotency-Key (or transfer id) applies the request once, or finds it applied.
 */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 3) return false;
  const { code, message, driverError, cause } = error as { code?: unknown; message?: unknown; driverError?: unknown; cause?: unknown };
  if (typeof code === 'string' && (UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_SOCKET_CODES.has(code))) return true;
  if (typeof message === 'string' && UNAVAILABLE_MESSAGE.test(message)) return true;
  return isDatabaseUnavailable(driverError, depth + 1) || isDatabaseUnavailable(cause, depth + 1);
}

/**
 * The raw HTTP response for a request Node's parser refused before Fastify saw it (headers too large, a
 * malformed request line, a timeout): a problem document too, with no instance (there is no request).
 */
export function connectionErrorResponse(errorCode: string | undefined): string {
  const [status, code, detail] =
    errorCode === 'HPE_HEADER_OVERFLOW'
      ? [431, CommonErrorCode.HeadersTooLarge, 'The request headers are larger than the limit.']
      : errorCode === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, CommonErrorCode.RequestTimeout, 'The request took too long to arrive.']
        : [400, CommonErrorCode.BadRequest, 'The request is not valid HTTP.'];
  const title = status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
  const body = JSON.stringify({ type: problemType(code), title, status, detail, code });
  return `HTTP/1.1 ${status} ${title}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}
