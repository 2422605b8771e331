import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { from, type Observable, of } from 'rxjs';
import { catchError, mergeMap } from 'rxjs/operators';
import { CommonError, CommonErrorCode, ErrorKind } from '../errors/domain-error.js';
import { PROBLEM_CONTENT_TYPE, problemFromException } from '../errors/problem-details.js';
import { requestInstance } from '../errors/problem-details.filter.js';
import '../principal.js';
import { IDEMPOTENT_METADATA, type IdempotentOptions } from './idempotency.metadata.js';
import { IdempotencyService } from './idempotency.service.js';

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
const REPLAYED_HEADER = 'idempotent-replayed';

/** Client errors that a retry may outgrow: not kept, so the retry runs again. */
const TRANSIENT_STATUSES = new Set([408, 409, 425, 429]);

/** The scope of a key: the calling client, or one shared scope for routes that need no token. */
function keyScope(request: FastifyRequest): string {
  return request.principal?.clientId ?? 'anonymous';
}

/**
 * Applies @Idempotent() routes' key handling around the handler: claim the key, run, keep the response
 * (successes and final refusals alike), or replay a kept one. As at Stripe, a request that never
 * started (it failed validation) keeps nothing, and neither does a failure that a retry may fix (5xx,
 * 409, 429): the key is released so that the corrected or retried request runs.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    private readonly keys: IdempotencyService,
  ) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    const options = this.reflector.get<IdempotentOptions | undefined>(IDEMPOTENT_METADATA, context.getHandler());
    if (options === undefined || context.getType() !== 'http') return next.handle();
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const reply = context.switchToHttp().getResponse<FastifyReply>();
    const header = request.headers[IDEMPOTENCY_KEY_HEADER];
    const key = Array.isArray(header) ? header[0] : header;
    if (key === undefined) {
      if (options.required) {
        throw new CommonError(
          ErrorKind.InvalidInput,
          CommonErrorCode.IdempotencyKeyRequired,
          'This request needs an Idempotency-Key header (a UUID works well).',
        );
      }
      return next.handle();
    }
    const identity = { clientId: keyScope(request), key };
    const instance = requestInstance(request);
    const claim = await this.keys.claim({ ...identity, method: request.method, path: instance, body: request.body });
    if (claim.kind === 'replay') {
      void reply.status(claim.status).header(REPLAYED_HEADER, 'true');
      if (claim.status >= 400) void reply.header('content-type', PROBLEM_CONTENT_TYPE);
      return of(claim.body);
    }
    return next.handle().pipe(
      mergeMap((body: unknown) =>
        from(
          (async () => {
            // Keep exactly what the client will read (the JSON form of the body), less what is shown only once.
            const stored: unknown = withholdFields(
              body === undefined ? null : JSON.parse(JSON.stringify(body)),
              options.withheldOnReplay ?? [],
            );
            await this.keys.complete(identity, claim.lockedAt, reply.statusCode, stored);
            return body;
          })(),
        ),
      ),
      catchError((error: unknown) =>
        from(
          (async () => {
            const problem = problemFromException(error, instance);
            if (
              problem.body.status >= 500 ||
              TRANSIENT_STATUSES.has(problem.body.status) ||
              problem.body.code === CommonErrorCode.ValidationFailed
            ) {
              await this.keys.release(identity, claim.lockedAt);
            } else {
              await this.keys.complete(identity, claim.lockedAt, problem.body.status, problem.body);
            }
            throw error;
          })(),
        ),
      ),
    );
  }
}

/** `body` with each of `fields` (top-level) set to null, when it is a JSON object that has them. */
function withholdFields(body: unknown, fields: readonly string[]): unknown {
  if (fields.length === 0 || typeof body !== 'object' || body === null || Array.isArray(body)) return body;
  const kept: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  for (const field of fields) if (field in kept) kept[field] = null;
  return kept;
}
