import { randomBytes, timingSafeEqual } from 'node:crypto';
import { Body, Controller, Get, HttpCode, Logger, Param, Post, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { InteractionResults } from 'oidc-provider';
import { AuditService } from '../audit/audit.service.js';
import { CommonError } from '../common/errors/domain-error.js';
import { RateLimit } from '../common/rate-limit/rate-limiter.js';
import { AppConfig } from '../config/app-config.js';
import { normaliseLogin, type User, UsersService } from '../users/users.service.js';
import { Public } from './access.decorators.js';
import { AuthorizationServer } from './authorization-server.js';
import { ClientRegistry, type StoredClient } from './client-registry.js';
import { consentPage, interactionErrorPage, loginPage } from './interaction.views.js';
import { isScope, SCOPE_DESCRIPTIONS } from './scopes.js';

const CSRF_COOKIE = 'cg_csrf';

const COMPLIANCE_ROLE_REFUSAL: InteractionResults = {
  error: 'access_denied',
  error_description: 'Only users with the compliance role may grant audit:read.',
};

export class LoginForm {
  @IsString()
  @MaxLength(128)
  csrfToken!: string;

  @IsString()
  @MaxLength(254)
  login!: string;

  @IsString()
  @MaxLength(128)
  password!: string;
}

export class ConsentForm {
  @IsString()
  @MaxLength(128)
  csrfToken!: string;

  @IsIn(['approve', 'deny'])
  decision!: 'approve' | 'deny';
}

export class AbortForm {
  @IsString()
  @MaxLength(128)
  csrfToken!: string;

  @IsOptional()
  @IsString()
  @MaxLength(16)
  reason?: string;
}

function readCookie(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie ?? '';
  for (const part of header.split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

/**
 * The sign-in and consent pages of the authorization code flow. Plain HTML forms (no JavaScript), a
 * double-submit CSRF token on every form, `frame-ancestors 'none'` from the global security headers.
 */
@Controller('interaction')
@Public()
@ApiExcludeController()
export class InteractionController {
  private readonly logger = new Logger(InteractionController.name);
  private readonly loginByAddress: RateLimit;
  private readonly loginByAccount: RateLimit;

  constructor(
    private readonly server: AuthorizationServer,
    private readonly users: UsersService,
    private readonly clients: ClientRegistry,
    private readonly audit: AuditService,
    private readonly config: AppConfig,
  ) {
    this.loginByAddress = new RateLimit('sign-in attempts from one address', config.rateLimits.loginPerMinute * 3, 60);
    this.loginByAccount = new RateLimit('sign-in attempts for one account', config.rateLimits.loginPerMinute, 60);
  }

  @Get(':uid')
  async show(@Param('uid') uid: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const details = await this.details(request, reply, uid);
    if (details === undefined) return;
    const csrfToken = this.csrfToken(request, reply);
    const clientId = String(details.params.client_id);
    const client = await this.clients.findClient(clientId);
    if (details.prompt.name === 'login') {
      return this.html(reply, 200, loginPage({ uid, csrfToken, clientName: client?.name ?? clientId }));
    }
    const merchant = client?.merchantId ? await this.clients.findMerchant(client.merchantId) : null;
    const user = details.session?.accountId ? await this.users.findById(details.session.accountId) : null;
    if (client !== null && user !== null && (await this.refusedForRole(client, user, requestedScopes(details.prompt.details))))
      return this.finish(request, reply, COMPLIANCE_ROLE_REFUSAL, false);
    return this.html(
      reply,
      200,
      consentPage({
        uid,
        csrfToken,
        clientName: client?.name ?? clientId,
        merchantName: merchant?.name ?? null,
        userName: user?.displayName ?? 'you',
        scopes: requestedScopes(details.prompt.details).map((scope) => ({
          scope,
          description: isScope(scope) ? SCOPE_DESCRIPTIONS[scope] : scope,
        })),
      }),
    );
  }

  @Post(':uid/login')
  @HttpCode(303)
  async login(
    @Param('uid') uid: string,
    @Body() form: LoginForm,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const details = await this.details(request, reply, uid);
    if (details === undefined || !this.csrfValid(request, reply, form.csrfToken)) return;
    const clientId = String(details.params.client_id);
    const clientName = (await this.clients.findClient(clientId))?.name ?? clientId;
    const csrfToken = form.csrfToken;
    const loginKey = JSON.stringify(normaliseLogin(form.login));
    try {
      await this.loginByAddress.consume(request.ip);
      await this.loginByAccount.consume(loginKey);
    } catch (error) {
      if (!(error instanceof CommonError)) throw error;
      await this.recordSignInFailure(uid, clientId, 'RATE_LIMITED');
      void reply.header('retry-after', String(error.retryAfterSeconds ?? 60));
      return this.html(
        reply,
        429,
        loginPage({ uid, csrfToken, clientName, login: form.login, error: 'Too many attempts. Wait a minute and try again.' }),
      );
    }
    const user = await this.users.authenticate(form.login, form.password);
    if (user === null) {
      await this.recordSignInFailure(uid, clientId, 'LOGIN_INVALID');
      return this.html(
        reply,
        401,
        loginPage({ uid, csrfToken, clientName, login: form.login, error: 'That login and password do not match an account.' }),
      );
    }
    await this.loginByAccount.reset(loginKey);
    await this.audit.record({
      actor: { userId: user.id },
      action: 'oauth.sign_in.succeeded',
      resourceType: 'oauth_interaction',
      resourceId: uid,
      outcome: 'success',
      details: { clientId },
    });
    return this.finish(request, reply, { login: { accountId: user.id } }, false);
  }

  /** A refused sign-in: no actor yet (the account is unknown or not proven), never the login typed. */
  private async recordSignInFailure(uid: string, clientId: string, problemCode: 'RATE_LIMITED' | 'LOGIN_INVALID'): Promise<void> {
    await this.audit.record({
      actor: null,
      action: 'oauth.sign_in.failed',
      resourceType: 'oauth_interaction',
      resourceId: uid,
      outcome: 'failure',
      problemCode,
      details: { clientId },
    });
  }

  @Post(':uid/consent')
  @HttpCode(303)
  async consent(
    @Param('uid') uid: string,
    @Body() form: ConsentForm,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const details = await this.details(request, reply, uid);
    if (details === undefined || !this.csrfValid(request, reply, form.csrfToken)) return;
    const accountId = details.session?.accountId;
    const clientId = String(details.params.client_id);
    if (details.prompt.name !== 'consent' || accountId === undefined)
      return this.html(reply, 400, interactionErrorPage('There is no consent to give at this step.'));
    const scopes = requestedScopes(details.prompt.details);
    const client = await this.clients.findClient(clientId);
    const user = await this.users.findById(accountId);
    if (client !== null && user !== null && (await this.refusedForRole(client, user, scopes)))
      return this.finish(request, reply, COMPLIANCE_ROLE_REFUSAL, false);
    if (form.decision === 'deny') {
      await this.audit.record({
        actor: { userId: accountId },
        action: 'oauth.consent.denied',
        resourceType: 'oauth_client',
        resourceId: clientId,
        outcome: 'success',
        details: { scopes },
      });
      return this.finish(request, reply, { error: 'access_denied', error_description: 'The user denied the request.' }, false);
    }
    const provider = this.server.provider;
    const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId, clientId });
    if (grant === undefined) return this.html(reply, 400, interactionErrorPage('This consent request has expired.'));
    const promptDetails = details.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    if (promptDetails.missingOIDCScope) grant.addOIDCScope(promptDetails.missingOIDCScope.join(' '));
    if (promptDetails.missingOIDCClaims) grant.addOIDCClaims(promptDetails.missingOIDCClaims);
    for (const [resource, resourceScopes] of Object.entries(promptDetails.missingResourceScopes ?? {}))
      grant.addResourceScope(resource, resourceScopes.join(' '));
    const grantId = await grant.save();
    await this.audit.record({
      actor: { userId: accountId },
      action: 'oauth.consent.granted',
      resourceType: 'oauth_grant',
      resourceId: grantId,
      outcome: 'success',
      details: { clientId, scopes },
    });
    return this.finish(request, reply, { consent: details.grantId ? {} : { grantId } }, true);
  }

  @Post(':uid/abort')
  @HttpCode(303)
  async abort(
    @Param('uid') uid: string,
    @Body() form: AbortForm,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const details = await this.details(request, reply, uid);
    if (details === undefined || !this.csrfValid(request, reply, form.csrfToken)) return;
    return this.finish(request, reply, { error: 'access_denied', error_description: 'The user cancelled the sign-in.' }, false);
  }

  /**
   * Only a user with the compliance role may grant `audit:read` (to the first-party console, the one
   * client a user can sign in to with that scope). A user without it is refused before any consent
   * page, and the refusal is recorded.
   */
  private async refusedForRole(client: StoredClient, user: User, scopes: readonly string[]): Promise<boolean> {
    if (!scopes.includes('audit:read') || user.roles.includes('compliance')) return false;
    await this.audit.record({
      actor: { userId: user.id },
      action: 'oauth.consent.denied',
      resourceType: 'oauth_client',
      resourceId: client.clientId,
      outcome: 'failure',
      problemCode: 'COMPLIANCE_ROLE_REQUIRED',
      details: { scopes: [...scopes] },
    });
    return true;
  }

  /** The interaction this browser is in, or an error page when its cookie or the interaction is gone. */
  private async details(request: FastifyRequest, reply: FastifyReply, uid: string) {
    try {
      const details = await this.server.provider.interactionDetails(request.raw, reply.raw);
      if (details.uid !== uid) throw new Error('interaction mismatch');
      return details;
    } catch (error) {
      this.logger.debug({ err: error }, 'no interaction for this request');
      this.html(reply, 400, interactionErrorPage('This sign-in has expired or was opened in another browser.'));
      return undefined;
    }
  }

  private csrfToken(request: FastifyRequest, reply: FastifyReply): string {
    const existing = readCookie(request, CSRF_COOKIE);
    if (existing !== undefined && /^[A-Za-z0-9_-]{43}$/.test(existing)) return existing;
    const token = randomBytes(32).toString('base64url');
    const secure = this.config.publicUrl.startsWith('https:') ? '; Secure' : '';
    void reply.header('set-cookie', `${CSRF_COOKIE}=${token}; Path=/interaction; HttpOnly; SameSite=Strict${secure}`);
    return token;
  }

  private csrfValid(request: FastifyRequest, reply: FastifyReply, submitted: string): boolean {
    const cookie = readCookie(request, CSRF_COOKIE) ?? '';
    const valid = cookie.length > 0 && cookie.length === submitted.length && timingSafeEqual(Buffer.from(cookie), Buffer.from(submitted));
    if (!valid) this.html(reply, 403, interactionErrorPage('This form has expired. Go back and try again.'));
    return valid;
  }

  private html(reply: FastifyReply, status: number, body: string): void {
    void reply.status(status).header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store').send(body);
  }

  /** Hands the result to the authorization server and sends the browser where it says (back to the authorize endpoint). */
  private async finish(
    request: FastifyRequest,
    reply: FastifyReply,
    result: InteractionResults,
    mergeWithLastSubmission: boolean,
  ): Promise<void> {
    const location = await this.server.provider.interactionResult(request.raw, reply.raw, result, { mergeWithLastSubmission });
    this.redirect(reply, location);
  }

  private redirect(reply: FastifyReply, location: string): void {
    void reply.status(303).header('location', location).header('cache-control', 'no-store').send();
  }
}

/** The scopes a consent prompt asks for, without `openid` (which grants nothing here). */
function requestedScopes(details: Record<string, unknown>): string[] {
  const oidc = Array.isArray(details.missingOIDCScope) ? (details.missingOIDCScope as string[]) : [];
  const resource = Object.values((details.missingResourceScopes as Record<string, string[]> | undefined) ?? {}).flat();
  return [...new Set([...oidc, ...resource])].filter((scope) => scope !== 'openid').sort();
}
