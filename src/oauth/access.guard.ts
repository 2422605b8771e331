import { type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../common/principal.js';
import { ACCESS_METADATA, type AccessRule, describeRule } from './access.decorators.js';
import { ACCESS_TOKEN_STRATEGY } from './access-token.strategy.js';
import { OAuthError } from './oauth.errors.js';

/** The access rule of a handler: its own, else its controller's. */
export function accessRuleOf(reflector: Reflector, context: ExecutionContext): AccessRule | undefined {
  return reflector.getAllAndOverride<AccessRule | undefined>(ACCESS_METADATA, [context.getHandler(), context.getClass()]);
}

/**
 * The global guard: every route either is @Public() or needs a valid access token whose scopes and
 * caller kind satisfy the route's rule. A route with no rule is refused (start-up refuses it first).
 */
@Injectable()
export class AccessGuard extends AuthGuard(ACCESS_TOKEN_STRATEGY) {
  constructor(private readonly reflector: Reflector) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const rule = accessRuleOf(this.reflector, context);
    if (rule === undefined) throw new Error(`${context.getClass().name}.${context.getHandler().name} declares no access rule`);
    if (rule.public) return true;
    await super.canActivate(context);
    const request = context.switchToHttp().getRequest<FastifyRequest & { user?: Principal }>();
    const principal = request.user;
    if (principal === undefined) throw OAuthError.tokenMissing();
    request.principal = principal;
    enforceRule(rule, principal);
    return true;
  }

  /** Passport's outcome: our verifier's errors pass through unchanged; anything else is a missing token. */
  override handleRequest<TUser = Principal>(error: unknown, user: TUser | false): TUser {
    if (error) throw error;
    if (!user) throw OAuthError.tokenMissing();
    return user;
  }
}

export function enforceRule(rule: AccessRule, principal: Principal): void {
  if (rule.caller === 'user' && principal.userId === null)
    throw OAuthError.wrongCaller('This route acts for a signed-in user: it needs a token a user delegated.');
  if (rule.caller === 'client' && principal.userId !== null)
    throw OAuthError.wrongCaller('This route is for a client acting for itself: it needs a client-credentials token.');
  const held = new Set(principal.scopes);
  const missing = rule.allOf.filter((scope) => !held.has(scope));
  if (missing.length > 0) throw OAuthError.insufficientScope(rule.allOf, describeRule(rule));
  if (rule.anyOf.length > 0 && !rule.anyOf.some((scope) => held.has(scope)))
    throw OAuthError.insufficientScope(rule.anyOf, describeRule(rule));
}
