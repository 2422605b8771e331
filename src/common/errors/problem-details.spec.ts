import { describe, expect, it } from '@jest/globals';
import {
  BadRequestException,
  ForbiddenException,
  HttpException,
  HttpStatus,
  NotFoundException,
  ServiceUnavailableException,
} from '@nestjs/common';
import { CommonError, CommonErrorCode, DomainError, ErrorKind, type FieldError } from './domain-error.js';
import { PROBLEM_CONTENT_TYPE, problemFromException, problemType, statusOfKind } from './problem-details.js';

class AccountError extends DomainError {}

describe('statusOfKind', () => {
  it.each<[ErrorKind, number]>([
    [ErrorKind.InvalidInput, 400],
    [ErrorKind.Unauthenticated, 401],
    [ErrorKind.Forbidden, 403],
    [ErrorKind.NotFound, 404],
    [ErrorKind.MethodNotAllowed, 405],
    [ErrorKind.Conflict, 409],
    [ErrorKind.Gone, 410],
    [ErrorKind.PayloadTooLarge, 413],
    [ErrorKind.UnsupportedMediaType, 415],
    [ErrorKind.Unprocessable, 422],
    [ErrorKind.RateLimited, 429],
    [ErrorKind.Internal, 500],
    [ErrorKind.Unavailable, 503],
  ])('maps the kind %s to HTTP %i', (kind, status) => {
    expect(statusOfKind(kind)).toBe(status);
  });

  it('has a status for every kind there is', () => {
    for (const kind of Object.values(ErrorKind)) expect(statusOfKind(kind)).toEqual(expect.any(Number));
  });
});

describe('problemType', () => {
  it('turns a code into a stable relative URI', () => {
    expect(problemType('VALIDATION_FAILED')).toBe('/problems/validation-failed');
    expect(problemType('ACCOUNT_FROZEN')).toBe('/problems/account-frozen');
  });
});

describe('problemFromException', () => {
  describe('a DomainError thrown on purpose', () => {
    it('becomes a problem document with type, title, status, detail, instance and code, and nothing else', () => {
      const problem = problemFromException(
        new AccountError(ErrorKind.Conflict, 'ACCOUNT_FROZEN', 'The account is frozen.'),
        '/accounts/42',
      );
      expect(problem.body).toEqual({
        type: '/problems/account-frozen',
        title: 'Conflict',
        status: 409,
        detail: 'The account is frozen.',
        instance: '/accounts/42',
        code: 'ACCOUNT_FROZEN',
      });
      expect(problem.retryAfterSeconds).toBeUndefined();
      expect(problem.unexpected).toBeUndefined();
      expect(PROBLEM_CONTENT_TYPE).toBe('application/problem+json');
    });

    it.each<[ErrorKind, number, string]>([
      [ErrorKind.InvalidInput, 400, 'Bad Request'],
      [ErrorKind.Unauthenticated, 401, 'Unauthorized'],
      [ErrorKind.Forbidden, 403, 'Forbidden'],
      [ErrorKind.NotFound, 404, 'Not Found'],
      [ErrorKind.Gone, 410, 'Gone'],
      [ErrorKind.PayloadTooLarge, 413, 'Content Too Large'],
      [ErrorKind.Unprocessable, 422, 'Unprocessable Content'],
      [ErrorKind.RateLimited, 429, 'Too Many Requests'],
      [ErrorKind.Unavailable, 503, 'Service Unavailable'],
    ])('answers the kind %s with status %i, "%s"', (kind, status, title) => {
      const problem = problemFromException(new AccountError(kind, 'SOME_CODE', 'Something.'), '/x');
      expect(problem.body.status).toBe(status);
      expect(problem.body.title).toBe(title);
      expect(problem.body.code).toBe('SOME_CODE');
    });

    it('passes the list of field errors through', () => {
      const errors: FieldError[] = [
        { field: 'items.0.amountMinor', rule: 'isAmountMinor', message: 'items.0.amountMinor must be an integer' },
        { field: 'extra', rule: 'whitelistValidation', message: 'property extra should not exist' },
      ];
      const problem = problemFromException(
        new CommonError(ErrorKind.InvalidInput, CommonErrorCode.ValidationFailed, 'The request has 2 invalid fields.', { errors }),
        '/payments',
      );
      expect(problem.body).toMatchObject({ status: 400, code: 'VALIDATION_FAILED', type: '/problems/validation-failed' });
      expect(problem.body.errors).toEqual(errors);
    });

    it('has no errors member when the error listed none', () => {
      const problem = problemFromException(new CommonError(ErrorKind.Conflict, CommonErrorCode.Conflict, 'Taken.'), '/x');
      expect(problem.body).not.toHaveProperty('errors');
    });

    it('adds extensions, which cannot overwrite the standard members', () => {
      const error = new AccountError(ErrorKind.Conflict, 'ACCOUNT_FROZEN', 'The account is frozen.', {
        extensions: { accountId: 'acc-1', status: 200, code: 'OK', type: 'about:blank' },
      });
      const problem = problemFromException(error, '/accounts/acc-1');
      expect(problem.body).toMatchObject({ accountId: 'acc-1', status: 409, code: 'ACCOUNT_FROZEN', type: '/problems/account-frozen' });
    });

    it('carries retryAfterSeconds for the Retry-After header', () => {
      const problem = problemFromException(
        new CommonError(ErrorKind.RateLimited, CommonErrorCode.RateLimited, 'Slow down.', { retryAfterSeconds: 30 }),
        '/x',
      );
      expect(problem.retryAfterSeconds).toBe(30);
      expect(problem.body.status).toBe(429);
      expect(problem.body).not.toHaveProperty('retryAfterSeconds');
    });

    it('marks an Internal DomainError as unexpected, so it gets logged', () => {
      const error = new AccountError(ErrorKind.Internal, 'LEDGER_UNBALANCED', 'The ledger does not balance.');
      const problem = problemFromException(error, '/x');
      expect(problem.body.status).toBe(500);
      expect(problem.unexpected).toBe(error);
    });
  });

  describe('a database that cannot be reached', () => {
    const queryFailed = (driverError: unknown) => Object.assign(new Error('Query failed: SELECT 1'), { driverError });
    it.each<[string, unknown]>([
      ['a refused connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
      [
        'a server shutting down (57P01), through TypeORM',
        queryFailed(Object.assign(new Error('terminating connection'), { code: '57P01' })),
      ],
      ['a server starting up (57P03)', Object.assign(new Error('the database system is starting up'), { code: '57P03' })],
      ['a connection cut mid-query', new Error('Connection terminated unexpectedly')],
      ['a pool that cannot connect in time', new Error('timeout exceeded when trying to connect')],
      [
        'a socket error kept as the cause',
        Object.assign(new Error('write failed'), { cause: Object.assign(new Error('x'), { code: 'EPIPE' }) }),
      ],
    ])('turns %s into 503 SERVICE_UNAVAILABLE with Retry-After, saying nothing of the database', (_what, thrown) => {
      const problem = problemFromException(thrown, '/x');
      expect(problem.body.status).toBe(503);
      expect(problem.body.code).toBe(CommonErrorCode.ServiceUnavailable);
      expect(problem.retryAfterSeconds).toBe(1);
      expect(JSON.stringify(problem.body)).not.toMatch(/5432|127\.0\.0\.1|SELECT|terminat/);
      expect(problem.unexpected).toBe(thrown);
    });

    it('leaves other database errors a 500', () => {
      const problem = problemFromException(Object.assign(new Error('deadlock detected'), { code: '40P01' }), '/x');
      expect(problem.body.status).toBe(500);
    });
  });

  describe('an error nobody threw on purpose', () => {
    it('becomes a bare 500 INTERNAL_ERROR that does not echo the message', () => {
      const error = new Error('relation "users" failed: SELECT * FROM secret WHERE password = \'hunter2\'');
      const problem = problemFromException(error, '/users/me');
      expect(problem.body).toEqual({
        type: '/problems/internal-error',
        title: 'Internal Server Error',
        status: 500,
        detail: 'The server could not complete the request.',
        instance: '/users/me',
        code: 'INTERNAL_ERROR',
      });
      const wire = JSON.stringify(problem.body);
      expect(wire).not.toContain('SELECT');
      expect(wire).not.toContain('secret');
      expect(wire).not.toContain('hunter2');
      expect(problem.unexpected).toBe(error);
    });

    it.each<[string, unknown]>([
      ['a string', 'boom'],
      ['undefined', undefined],
      ['null', null],
      ['an object with a 5xx statusCode', { statusCode: 502, message: 'upstream said SELECT 1' }],
      ['a pg-like error with a code', Object.assign(new Error('duplicate key'), { code: '23505' })],
    ])('turns %s into 500 INTERNAL_ERROR', (_what, thrown) => {
      const problem = problemFromException(thrown, '/x');
      expect(problem.body.status).toBe(500);
      expect(problem.body.code).toBe(CommonErrorCode.InternalError);
      expect(problem.body.detail).toBe('The server could not complete the request.');
      expect(problem.unexpected).toBe(thrown);
    });
  });

  describe("Nest's HttpExceptions", () => {
    it('turns "Cannot GET /x" into ROUTE_NOT_FOUND', () => {
      const problem = problemFromException(new NotFoundException('Cannot GET /x'), '/x');
      expect(problem.body).toEqual({
        type: '/problems/route-not-found',
        title: 'Not Found',
        status: 404,
        detail: 'No route matches this method and path.',
        instance: '/x',
        code: 'ROUTE_NOT_FOUND',
      });
      expect(problem.unexpected).toBeUndefined();
    });

    it('keeps an ordinary 404 as NOT_FOUND with its message', () => {
      const problem = problemFromException(new NotFoundException('No such order.'), '/orders/1');
      expect(problem.body).toMatchObject({ status: 404, code: 'NOT_FOUND', detail: 'No such order.' });
    });

    it('maps a 403 to FORBIDDEN', () => {
      const problem = problemFromException(new ForbiddenException('Not yours.'), '/x');
      expect(problem.body).toMatchObject({ status: 403, title: 'Forbidden', code: 'FORBIDDEN', detail: 'Not yours.' });
    });

    it('maps a 4xx with no code of its own to BAD_REQUEST, keeping its status', () => {
      const problem = problemFromException(new HttpException('Wrong teapot.', HttpStatus.I_AM_A_TEAPOT), '/x');
      expect(problem.body).toMatchObject({ status: 418, title: 'Client Error', code: 'BAD_REQUEST', detail: 'Wrong teapot.' });
    });

    it('hides the message of a 5xx and marks it unexpected', () => {
      const exception = new ServiceUnavailableException('database at 10.0.0.5 is down');
      const problem = problemFromException(exception, '/x');
      expect(problem.body).toMatchObject({
        status: 503,
        code: 'SERVICE_UNAVAILABLE',
        detail: 'The server could not complete the request.',
      });
      expect(JSON.stringify(problem.body)).not.toContain('10.0.0.5');
      expect(problem.unexpected).toBe(exception);
    });

    it('maps a 5xx with no code of its own to INTERNAL_ERROR', () => {
      const problem = problemFromException(new HttpException('bad gateway to 10.0.0.5', HttpStatus.BAD_GATEWAY), '/x');
      expect(problem.body).toMatchObject({
        status: 502,
        title: 'Server Error',
        code: 'INTERNAL_ERROR',
        detail: 'The server could not complete the request.',
      });
    });
  });

  describe("Fastify's own client errors", () => {
    const invalidJson = { code: 'FST_ERR_CTP_INVALID_JSON_BODY', statusCode: 400, message: "Unexpected token 's' in JSON at position 9" };

    it('turns a bare invalid-JSON error into MALFORMED_JSON', () => {
      const problem = problemFromException(invalidJson, '/payments');
      expect(problem.body).toEqual({
        type: '/problems/malformed-json',
        title: 'Bad Request',
        status: 400,
        detail: 'The request body is not valid JSON.',
        instance: '/payments',
        code: 'MALFORMED_JSON',
      });
      expect(problem.unexpected).toBeUndefined();
    });

    it("turns an HttpException whose cause is Fastify's invalid-JSON error into MALFORMED_JSON", () => {
      const problem = problemFromException(new BadRequestException('Unexpected token', { cause: invalidJson }), '/payments');
      expect(problem.body).toMatchObject({ status: 400, code: 'MALFORMED_JSON', detail: 'The request body is not valid JSON.' });
    });

    it('turns an empty JSON body into MALFORMED_JSON', () => {
      const problem = problemFromException({ code: 'FST_ERR_CTP_EMPTY_JSON_BODY', statusCode: 400 }, '/x');
      expect(problem.body).toMatchObject({ status: 400, code: 'MALFORMED_JSON' });
    });

    it('turns a body over the limit into 413 PAYLOAD_TOO_LARGE', () => {
      const problem = problemFromException(
        Object.assign(new Error('Request body is too large'), { code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 }),
        '/x',
      );
      expect(problem.body).toMatchObject({
        status: 413,
        title: 'Content Too Large',
        code: 'PAYLOAD_TOO_LARGE',
        type: '/problems/payload-too-large',
      });
    });

    it('turns an unsupported content type into 415 UNSUPPORTED_MEDIA_TYPE', () => {
      const problem = problemFromException({ code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 }, '/x');
      expect(problem.body).toMatchObject({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
    });

    it('keeps the status but not the message of another 4xx error from a plugin', () => {
      const problem = problemFromException({ statusCode: 406, message: 'header x-secret=abc not acceptable' }, '/x');
      expect(problem.body).toMatchObject({
        status: 406,
        title: 'Not Acceptable',
        code: 'BAD_REQUEST',
        detail: 'The request could not be processed.',
      });
      expect(JSON.stringify(problem.body)).not.toContain('x-secret');
      expect(problem.unexpected).toBeUndefined();
    });
  });
});
