import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

/**
 * Who is calling, as the access token says: set on the request by the access guard, read by
 * everything after it. `userId` is set only for a token a user delegated (authorization code grant);
 * a client-credentials token has `userId: null` and can never be taken for a user.
 */
export interface Principal {
  readonly clientId: string;
  readonly clientType: string;
  readonly merchantId: string | null;
  readonly userId: string | null;
  readonly scopes: readonly string[];
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** `@Principal() principal: Principal` in a handler: the verified caller (routes that are not @Public()). */
export const Principal = createParamDecorator((_data: unknown, context: ExecutionContext): Principal => {
  const principal = context.switchToHttp().getRequest<FastifyRequest>().principal;
  // The access guard runs before every handler that is not public; a missing principal is a wiring bug.
  if (principal === undefined) throw new Error('@Principal() used on a route without an authenticated caller');
  return principal;
});

/**
 * The user a user token acts for. Routes that call this admit user tokens only (@UserScopes): a
 * missing user is a wiring bug, so it is a plain Error (a 500), never a client error.
 */
export function userOf(principal: Principal): string {
  if (principal.userId === null) throw new Error('a user route was reached without a user token');
  return principal.userId;
}

/** The merchant a merchant token (or a merchant's mini-program's user token) belongs to; as userOf, a missing one is a wiring bug. */
export function merchantOf(principal: Principal): string {
  if (principal.merchantId === null) throw new Error('a merchant route was reached without a merchant');
  return principal.merchantId;
}
