import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import Provider, { type Configuration, errors, interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service.js';
import { Clock } from '../common/clock/clock.js';
import { CommonError } from '../common/errors/domain-error.js';
import { RateLimit } from '../common/rate-limit/rate-limiter.js';
import { AppConfig } from '../config/app-config.js';
import { UsersService } from '../users/users.service.js';
import { AccessTokenVerifier, apiAudience, DPOP_ALGORITHMS } from './access-token.verifier.js';
import { ClientRegistry, clientSecretMatches } from './client-registry.js';
import { ACCESS_TOKEN_ALGORITHM, KeyStore } from './key-store.js';
import { createOidcAdapter, purgeExpiredOidcPayloads } from './oidc-adapter.js';
import { ALL_SCOPES, isClientType } from './scopes.js';

/** Paths the authorization server answers itself (before Fastify parses a body). */
const AUTHORIZATION_SERVER_PATHS = /^\/(?:oauth\/|\.well-known\/(?:openid-configuration|oauth-authorization-server)(?:$|\?))/;
const PURGE_INTERVAL_MS = 15 * 60 * 1000;

interface ClientExtras {
  client_type?: unknown;
  merchant_id?: unknown;
  first_party?: unknown;
}

/**
 * The OAuth 2.0 authorization server: oidc-provider (a certified implementation), configured for
 * creditgate's clients and scopes, storing everything in PostgreSQL, and answering on the same Fastify
 * server as the API. Access tokens are RFC 9068 JWTs signed with ES256 for the audience `<PUBLIC_URL>/v1`.
 */
@Injectable()
export class AuthorizationServer implements OnApplicationShutdown {
  private readonly logger = new Logger(AuthorizationServer.name);
  private providerInstance: Provider | undefined;
  private purgeTimer: NodeJS.Timeout | undefined;
  private readonly tokenRateLimit: RateLimit;

  constructor(
    private readonly config: AppConfig,
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly keys: KeyStore,
    private readonly clients: ClientRegistry,
    private readonly users: UsersService,
    private readonly audit: AuditService,
    private readonly verifier: AccessTokenVerifier,
  ) {
    this.tokenRateLimit = new RateLimit('token endpoint', config.rateLimits.tokenPerMinute, 60);
  }

  get provider(): Provider {
    if (this.providerInstance === undefined) throw new Error('the authorization server has not started');
    return this.providerInstance;
  }

  /** Loads the keys, builds the provider, and answers its paths on `fastify`. Called once at start-up. */
  async start(fastify: FastifyInstance): Promise<void> {
    const keys = await this.keys.load();
    this.verifier.useKeys(keys.verifying, async () => (await this.keys.load()).verifying);
    if (this.config.oauth.platformClient) {
      const outcome = await this.clients.ensurePlatformClient(
        this.config.oauth.platformClient.clientId,
        this.config.oauth.platformClient.clientSecret,
      );
      this.logger.log({ clientId: this.config.oauth.platformClient.clientId, outcome }, 'platform client from configuration');
    }
    const provider = new Provider(
      this.config.publicUrl,
      this.configuration(
        keys.signing.map((jwk) => ({ ...jwk })),
        [...keys.cookie],
      ),
    );
    provider.proxy = this.config.trustProxy;
    // Client secrets are kept hashed: compare the hash of what the client sent.
    provider.Client.prototype.compareClientSecret = function compareClientSecret(this: { clientSecret?: string }, actual: string): boolean {
      return clientSecretMatches(this.clientSecret ?? null, actual);
    };
    this.listen(provider);
    this.providerInstance = provider;
    this.mount(fastify, provider);
    this.purgeTimer = setInterval(() => {
      purgeExpiredOidcPayloads(this.dataSource, this.clock.now()).catch((error: unknown) =>
        this.logger.warn({ err: error }, 'purging expired OAuth records failed'),
      );
    }, PURGE_INTERVAL_MS);
    this.purgeTimer.unref();
  }

  onApplicationShutdown(): void {
    if (this.purgeTimer !== undefined) clearInterval(this.purgeTimer);
  }

  private configuration(signingKeys: object[], cookieKeys: string[]): Configuration {
    const audience = apiAudience(this.config);
    const ttl = this.config.oauth;
    const users = this.users;
    const dataSource = this.dataSource;
    const clock = this.clock;
    const policy = interactionPolicy.base();
    return {
      adapter: createOidcAdapter(this.dataSource, this.clients, this.clock),
      jwks: { keys: signingKeys as never[] },
      cookies: {
        keys: cookieKeys,
        long: { httpOnly: true, sameSite: 'lax', secure: this.config.publicUrl.startsWith('https:') },
        short: { httpOnly: true, sameSite: 'lax', secure: this.config.publicUrl.startsWith('https:') },
      },
      routes: {
        authorization: '/oauth/authorize',
        token: '/oauth/token',
        introspection: '/oauth/introspect',
        revocation: '/oauth/revoke',
        jwks: '/oauth/jwks',
        end_session: '/oauth/logout',
        userinfo: '/oauth/userinfo',
        pushed_authorization_request: '/oauth/par',
      },
      scopes: [...ALL_SCOPES],
      claims: { openid: ['sub'] },
      responseTypes: ['code'],
      clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
      clientDefaults: {
        id_token_signed_response_alg: ACCESS_TOKEN_ALGORITHM,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      extraClientMetadata: { properties: ['client_type', 'merchant_id', 'first_party'] },
      enabledJWA: {
        dPoPSigningAlgValues: DPOP_ALGORITHMS as never[],
        clientAuthSigningAlgValues: ['ES256', 'ES384', 'EdDSA', 'PS256', 'RS256'] as never[],
        idTokenSigningAlgValues: [ACCESS_TOKEN_ALGORITHM] as never[],
      },
      pkce: { required: () => true },
      features: {
        devInteractions: { enabled: false },
        userinfo: { enabled: false },
        rpInitiatedLogout: { enabled: false },
        pushedAuthorizationRequests: { enabled: false },
        clientCredentials: { enabled: true },
        // Introspection is for confidential clients, about tokens issued to them; revocation likewise.
        introspection: {
          enabled: true,
          allowedPolicy: async (_ctx, client, token) => client.clientAuthMethod !== 'none' && token.clientId === client.clientId,
        },
        revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
        dPoP: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: async () => audience,
          useGrantedResource: async () => true,
          getResourceServerInfo: async (_ctx, resourceIndicator, client) => {
            if (resourceIndicator !== audience) throw new errors.InvalidTarget();
            return {
              scope: client.scope ?? '',
              audience,
              accessTokenFormat: 'jwt',
              accessTokenTTL: ttl.accessTokenTtlSeconds,
              jwt: { sign: { alg: ACCESS_TOKEN_ALGORITHM } },
            };
          },
        },
      },
      extraTokenClaims: async (_ctx, token) => {
        const client = (token as { client?: ClientExtras }).client;
        const clientType = typeof client?.client_type === 'string' && isClientType(client.client_type) ? client.client_type : undefined;
        if (clientType === undefined) throw new Error('a token for a client without a type');
        return { client_type: clientType, ...(typeof client?.merchant_id === 'string' ? { merchant_id: client.merchant_id } : {}) };
      },
      issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
      expiresWithSession: async () => false,
      rotateRefreshToken: true,
      findAccount: async (_ctx, sub) => {
        const user = await users.findById(sub);
        if (user === null) return undefined;
        return { accountId: user.id, claims: async () => ({ sub: user.id }) };
      },
      // Remembered consent: a grant this user gave this client earlier (in any browser session) is reused.
      loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
        const accountId = ctx.oidc.session?.accountId;
        const clientId = ctx.oidc.client?.clientId;
        if (accountId === undefined || clientId === undefined) return undefined;
        const fromSession = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session?.grantIdFor(clientId);
        if (fromSession) return ctx.oidc.provider.Grant.find(fromSession);
        const rows: { id: string }[] = await dataSource.query(
          `SELECT id FROM oidc_payloads
            WHERE type = 'Grant' AND account_id = $1 AND payload->>'clientId' = $2 AND (expires_at IS NULL OR expires_at > $3)
            ORDER BY expires_at DESC NULLS FIRST LIMIT 1`,
          [accountId, clientId, clock.now()],
        );
        return rows[0] ? ctx.oidc.provider.Grant.find(rows[0].id) : undefined;
      },
      interactions: { policy, url: async (_ctx, interaction) => `/interaction/${interaction.uid}` },
      ttl: {
        AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? ttl.accessTokenTtlSeconds,
        ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? ttl.accessTokenTtlSeconds,
        AuthorizationCode: ttl.authorizationCodeTtlSeconds,
        RefreshToken: (_ctx, token) => {
          // Rotation issues a new token on every use; the chain as a whole still ends when the first one would have.
          const issuedAt = (token as { iiat?: number }).iiat ?? Math.floor(Date.now() / 1000);
          const remaining = issuedAt + ttl.refreshTokenTtlSeconds - Math.floor(Date.now() / 1000);
          return Math.max(1, Math.min(ttl.refreshTokenTtlSeconds, remaining));
        },
        Grant: ttl.grantTtlSeconds,
        Session: ttl.sessionTtlSeconds,
        Interaction: 600,
        IdToken: 300,
      },
      renderError: async (ctx, out) => {
        ctx.type = 'html';
        ctx.body = errorPage(String(out.error), typeof out.error_description === 'string' ? out.error_description : '');
      },
    };
  }

  /** Records what the authorization server does in the audit trail. */
  private listen(provider: Provider): void {
    const record = (event: Parameters<AuditService['record']>[0]): void => {
      this.audit.record(event).catch((error: unknown) => this.logger.error({ err: error }, 'could not record an OAuth audit event'));
    };
    const actorOf = (ctx: KoaContextWithOIDC) => {
      const client = ctx.oidc.client as (ClientExtras & { clientId: string }) | undefined;
      const grantAccount = ctx.oidc.entities.Grant?.accountId ?? ctx.oidc.entities.Account?.accountId;
      return {
        clientId: client?.clientId ?? null,
        clientType: typeof client?.client_type === 'string' ? client.client_type : null,
        merchantId: typeof client?.merchant_id === 'string' ? client.merchant_id : null,
        userId: typeof grantAccount === 'string' ? grantAccount : null,
      };
    };
    provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
      const token = ctx.oidc.entities.AccessToken ?? ctx.oidc.entities.ClientCredentials;
      const grantType = String((ctx.oidc.params as { grant_type?: unknown } | undefined)?.grant_type ?? 'unknown');
      record({
        actor: actorOf(ctx),
        action: 'oauth.token.issued',
        resourceType: 'oauth_grant',
        resourceId: ctx.oidc.entities.Grant?.jti ?? null,
        outcome: 'success',
        details: {
          grantType,
          scope: typeof token?.scope === 'string' ? token.scope : '',
          dpopBound: Boolean((token as { jkt?: unknown } | undefined)?.jkt),
        },
      });
    });
    provider.on('grant.error', (ctx: KoaContextWithOIDC, error: errors.OIDCProviderError) => {
      record({
        actor: actorOf(ctx),
        action: 'oauth.token.refused',
        resourceType: 'oauth_token_request',
        outcome: 'failure',
        problemCode: error.error.toUpperCase().replace(/[^A-Z0-9_]/g, '_'),
        httpStatus: error.statusCode,
        details: { grantType: String((ctx.oidc?.params as { grant_type?: unknown } | undefined)?.grant_type ?? 'unknown') },
      });
    });
    provider.on('grant.revoked', (ctx: KoaContextWithOIDC, grantId: string) => {
      record({
        actor: actorOf(ctx),
        action: 'oauth.grant.revoked',
        resourceType: 'oauth_grant',
        resourceId: grantId,
        outcome: 'success',
        details: { by: 'authorization_server' },
      });
    });
    provider.on('authorization.error', (ctx: KoaContextWithOIDC, error: errors.OIDCProviderError) => {
      record({
        actor: actorOf(ctx),
        action: 'oauth.authorization.refused',
        resourceType: 'oauth_authorization',
        outcome: 'failure',
        problemCode: error.error.toUpperCase().replace(/[^A-Z0-9_]/g, '_'),
        httpStatus: error.statusCode,
      });
    });
    provider.on('server_error', (_ctx: KoaContextWithOIDC, error: Error) =>
      this.logger.error({ err: error }, 'authorization server error'),
    );
  }

  /**
   * Hands the authorization server's paths to oidc-provider before Fastify parses their bodies
   * (oidc-provider reads the raw stream itself). The reply keeps the headers set so far (request id,
   * security headers).
   */
  private mount(fastify: FastifyInstance, provider: Provider): void {
    const handle = provider.callback();
    fastify.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      if (!AUTHORIZATION_SERVER_PATHS.test(request.url)) return;
      if (request.method === 'POST' && request.url.startsWith('/oauth/token')) {
        try {
          await this.tokenRateLimit.consume(request.ip);
        } catch (error) {
          if (!(error instanceof CommonError)) throw error;
          void reply
            .status(429)
            .header('retry-after', String(error.retryAfterSeconds ?? 60))
            .header('cache-control', 'no-store')
            .send({ error: 'rate_limited', error_description: 'Too many token requests from this address; retry later.' });
          return reply;
        }
      }
      reply.hijack();
      for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) reply.raw.setHeader(name, value as string);
      await handle(request.raw, reply.raw);
      return reply;
    });
  }
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

/** The page shown when an authorization request is refused without redirecting (a bad redirect URI, an unknown client). */
function errorPage(error: string, description: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign-in error</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 3rem auto; padding: 0 1rem"><h1>This sign-in request cannot continue</h1>
<p><strong>${escapeHtml(error)}</strong></p><p>${escapeHtml(description)}</p><p>Go back to the app you came from and try again.</p></body></html>`;
}
