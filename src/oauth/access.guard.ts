import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import passport from 'passport';
import type { Principal } from '../common/principal.js';
import { UsersService } from '../users/users.service.js';
import { ACCESS_METADATA, type AccessRule, describeRule } from './access.decorators.js';
import { AccessTokenStrategy } from './access-token.strategy.js';
import { OAuthError } from './oauth.errors.js';
import type { Scope } from './scopes.js';

/** The access rule of a handler: its own, else its controller's. */
export function accessRuleOf(reflector: Reflector, context: ExecutionContext): AccessRule | undefined {
  return reflector.getAllAndOverride<AccessRule | undefined>(ACCESS_METADATA, [context.getHandler(), context.getClass()]);
}

/**
 * The global guard: every route either is @Public() or needs a valid access token whose scopes and
 * caller kind satisfy the route's rule. A route with no rule is refused (start-up refuses it first).
 */
@Injectable()
export class AccessGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly strategy: AccessTokenStrategy,
    private readonly users: UsersService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const rule = accessRuleOf(this.reflector, context);
    if (rule === undefined) throw new Error(`${context.getClass().name}.${context.getHandler().name} declares no access rule`);
    if (rule.public) return true;
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const principal = await this.authenticate(request, http.getResponse<FastifyReply>());
    request.principal = principal;
    enforceRule(rule, principal);
    if (principal.userId !== null && usesScope(rule, principal, COMPLIANCE_SCOPE)) await this.requireComplianceRole(principal.userId);
    return true;
  }

  /**
   * A user's `audit:read` rests on the compliance role, which the platform can take away at any time:
   * taking it revokes the console's grants, but an access token already issued is a signed JWT that
   * would otherwise stay good until it expires. So a user's token is honoured for audit data only while
   * the user still holds the role (one indexed read; compliance traffic is light).
   */
  private async requireComplianceRole(userId: string): Promise<void> {
    const user = await this.users.findById(userId);
    if (user === null || !user.roles.includes('compliance'))
      throw OAuthError.tokenInvalid('The compliance role this token was granted under has been taken away.');
  }

  /**
   * Runs this application's own strategy instance through passport. Not `AuthGuard('access-token')`:
   * passport keeps strategies by name in one registry per process, so when a second application starts
   * in the same process (tests do this; so could any tool embedding the app) its strategy replaces the
   * first one's, and the first application then verifies tokens with the second one's keys, issuer and
   * audience. A fresh object per request, as passport makes for a named strategy, keeps concurrent
   * requests apart (passport sets its success and failure actions on the strategy object it is given).
   * Our verifier's errors pass through unchanged; any other outcome is a missing token.
   */
  private authenticate(request: FastifyRequest, reply: FastifyReply): Promise<Principal> {
    return new Promise<Principal>((resolve, reject) => {
      const strategy = Object.create(this.strategy) as AccessTokenStrategy;
      const middleware = passport.authenticate(strategy, { session: false }, (error: unknown, user: Principal | false | undefined) => {
        if (error) reject(error instanceof Error ? error : new Error(String(error)));
        else if (!user) reject(OAuthError.tokenMissing());
        else resolve(user);
      }) as (request: unknown, response: unknown, next: (error?: unknown) => void) => void;
      middleware(request, reply, (error?: unknown) => reject(error instanceof Error ? error : OAuthError.tokenMissing()));
    });
  }
}

const COMPLIANCE_SCOPE: Scope = 'audit:read';

/** Whether the route is being reached on the strength of `scope` (required, or one of the accepted ones held). */
function usesScope(rule: AccessRule, principal: Principal, scope: Scope): boolean {
  return rule.allOf.includes(scope) || (rule.anyOf.includes(scope) && principal.scopes.includes(scope));
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
