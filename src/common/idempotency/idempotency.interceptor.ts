import { type CallHandler, createParamDecorator, type ExecutionContext, Injectable, Logger, type NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { from, type Observable, of } from 'rxjs';
import { catchError, mergeMap } from 'rxjs/operators';
import { CommonError, CommonErrorCode, ErrorKind } from '../errors/domain-error.js';
import { PROBLEM_CONTENT_TYPE, problemFromException } from '../errors/problem-details.js';
import { requestInstance } from '../errors/problem-details.filter.js';
import '../principal.js';
import { IDEMPOTENT_METADATA, type IdempotentOptions } from './idempotency.metadata.js';
import {
  type Claim,
  IdempotencyKeyTaken,
  IdempotencyService,
  inProgress,
  TransactionalKey,
  withholdFields,
} from './idempotency.service.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set on routes with `claimedInTransaction` when the handler is to claim the key itself. */
    transactionalKey?: TransactionalKey;
  }
}

/**
 * `@KeyToClaim() key: TransactionalKey | undefined` in the handler of an `@Idempotent({ claimedInTransaction: true })`
 * route: the key to claim and complete inside the handler's transaction, or undefined when there is
 * none to claim there (no key sent, or a stale key taken over the usual way: the interceptor keeps
 * the response then).
 */
export const KeyToClaim = createParamDecorator(
  (_data: unknown, context: ExecutionContext): TransactionalKey | undefined =>
    context.switchToHttp().getRequest<FastifyRequest>().transactionalKey,
);

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
const REPLAYED_HEADER = 'idempotent-replayed';

/** Client errors that a retry may outgrow: not kept, so the retry runs again. */
const TRANSIENT_STATUSES = new Set([408, 409, 425, 429]);

/**
 * The scope of a key: the calling client, and for a user's token the user too (one mini-program acts
 * for many users, and a key one user chose must never replay another's response); one shared scope
 * for routes that need no token.
 */
export function keyScope(principal: { readonly clientId: string; readonly userId: string | null } | undefined): string {
  if (principal === undefined) return 'anonymous';
  return principal.userId === null ? principal.clientId : `${principal.clientId}/${principal.userId}`;
}

/**
 * Applies @Idempotent() routes' key handling around the handler: claim the key, run, keep the response
 * (successes and final refusals alike), or replay a kept one. As at Stripe, a request that never
 * started (it failed validation) keeps nothing, and neither does a failure that a retry may fix (5xx,
 * 409, 429): the key is released so that the corrected or retried request runs.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  private readonly logger = new Logger(IdempotencyInterceptor.name);

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
    const identity = { clientId: keyScope(request.principal), key };
    const instance = requestInstance(request);
    const idempotent = { ...identity, method: request.method, path: instance, body: request.body };
    const claim = options.claimedInTransaction
      ? await this.keys.begin(idempotent, reply.statusCode, options.withheldOnReplay ?? [])
      : await this.keys.claim(idempotent);
    if (claim.kind === 'replay') return of(this.replay(reply, claim));
    if (claim.kind === 'in_transaction') {
      request.transactionalKey = claim.key;
      return next.handle().pipe(
        mergeMap((body: unknown) =>
          from(
            (async () => {
              if (!claim.key.completed) {
                // The handler should have stored it with its change; keep it now rather than lose it.
                this.logger.error({ path: instance }, 'a route that claims its key in its transaction did not complete it');
                await this.keys.keep(claim.key, reply.statusCode, body === undefined ? null : JSON.parse(JSON.stringify(body)));
              }
              return body;
            })(),
          ),
        ),
        catchError((error: unknown) =>
          from(
            (async () => {
              // A request that never started keeps nothing, as on any route.
              if (problemFromException(error, instance).body.code === CommonErrorCode.ValidationFailed) throw error;
              // Nothing was kept for this request. Claim the key now: a request with the same key may
              // have committed meanwhile (this one then failed because that one ran, or was told so):
              // its outcome is the answer, as a retry would get it.
              const settled = await this.keys.claim(idempotent);
              if (settled.kind === 'replay') return this.replay(reply, settled);
              const problem = error instanceof IdempotencyKeyTaken ? inProgress() : error;
              const { body: kept } = problemFromException(problem, instance);
              if (keepsNothing(kept)) await this.keys.release(identity, settled.lockedAt);
              else await this.keys.complete(identity, settled.lockedAt, kept.status, kept);
              throw problem;
            })(),
          ),
        ),
      );
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
            if (keepsNothing(problem.body)) {
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

  private replay(reply: FastifyReply, claim: Extract<Claim, { kind: 'replay' }>): unknown {
    void reply.status(claim.status).header(REPLAYED_HEADER, 'true');
    if (claim.status >= 400) void reply.header('content-type', PROBLEM_CONTENT_TYPE);
    return claim.body;
  }
}

/** A failure a retry may fix, or a request that never started: its key is not kept. */
function keepsNothing(problem: { status: number; code?: string }): boolean {
  return problem.status >= 500 || TRANSIENT_STATUSES.has(problem.status) || problem.code === CommonErrorCode.ValidationFailed;
}
