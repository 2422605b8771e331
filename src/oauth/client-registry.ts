import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { JWK } from 'jose';
import { newId } from '../common/ids.js';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service.js';
import { Clock } from '../common/clock/clock.js';
import { ErrorKind } from '../common/errors/domain-error.js';
import type { Principal } from '../common/principal.js';
import { OAuthError, OAuthErrorCode } from './oauth.errors.js';
import { type ClientType, SCOPES_BY_CLIENT_TYPE, type Scope } from './scopes.js';

export type TokenEndpointAuthMethod = 'none' | 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

export interface Merchant {
  readonly id: string;
  readonly name: string;
  readonly createdAt: Date;
}

export interface RegisteredClient {
  readonly clientId: string;
  readonly clientType: ClientType;
  readonly merchantId: string | null;
  readonly name: string;
  readonly tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  readonly redirectUris: readonly string[];
  readonly scopes: readonly Scope[];
  readonly dpopBound: boolean;
  readonly firstParty: boolean;
  readonly jwks: { keys: JWK[] } | null;
  readonly createdAt: Date;
}

/** What the authorization server needs to authenticate a client: its row, with the secret's hash. */
export interface StoredClient extends RegisteredClient {
  readonly secretHash: string | null;
}

export interface NewClient {
  readonly clientType: ClientType;
  readonly merchantId?: string | null;
  readonly name: string;
  /** Default: `none` for mini-programs without a secret, `client_secret_basic` otherwise. */
  readonly tokenEndpointAuthMethod?: TokenEndpointAuthMethod;
  readonly redirectUris?: readonly string[];
  /** Default: every scope the type may hold. Never more. */
  readonly scopes?: readonly Scope[];
  readonly dpopBound?: boolean;
  readonly firstParty?: boolean;
  readonly jwks?: { keys: JWK[] } | null;
  /** Choose the id and secret (bootstrap from configuration); otherwise they are generated. */
  readonly clientId?: string;
  readonly clientSecret?: string;
}

export interface CreatedClient {
  readonly client: RegisteredClient;
  /** Shown once, at creation; only its hash is kept. */
  readonly clientSecret: string | null;
}

interface ClientRow {
  client_id: string;
  client_type: ClientType;
  merchant_id: string | null;
  name: string;
  token_endpoint_auth_method: TokenEndpointAuthMethod;
  secret_hash: string | null;
  redirect_uris: string[];
  jwks: { keys: JWK[] } | null;
  scopes: Scope[];
  dpop_bound: boolean;
  first_party: boolean;
  created_at: Date;
}

const CLIENT_ID_PREFIX: Record<ClientType, string> = {
  mini_program: 'mini',
  merchant: 'merchant',
  compliance: 'compliance',
  platform: 'platform',
};
/** The compliance console's first-party public client (src/console). */
export const CONSOLE_CLIENT_ID = 'console_creditgate';
export const CLIENT_ID_PATTERN = /^[a-z][a-z0-9_]{2,30}_[A-Za-z0-9]{8,40}$/;

/**
 * Client secrets are 256-bit random strings that creditgate generates, so a single SHA-256 is a safe
 * way to keep them (nothing to brute-force), and it costs microseconds per token request. User
 * passwords, which people choose, are kept with argon2id instead (common/secret-hashing.ts).
 */
export function hashClientSecret(secret: string): string {
  return `sha256:${createHash('sha256').update(secret, 'utf8').digest('hex')}`;
}

export function clientSecretMatches(storedHash: string | null, candidate: string): boolean {
  const expected = Buffer.from(storedHash ?? hashClientSecret('no secret'), 'utf8');
  const actual = Buffer.from(hashClientSecret(candidate), 'utf8');
  return storedHash !== null && expected.length === actual.length && timingSafeEqual(expected, actual);
}

function isAllowedRedirectUri(uri: string): boolean {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return false;
  }
  if (url.hash !== '' || uri.length > 512) return false;
  if (url.protocol === 'https:') return true;
  // Plain http only for a loopback address (development, RFC 8252 §7.3).
  return url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
}

const toClient = (row: ClientRow): StoredClient => ({
  clientId: row.client_id,
  clientType: row.client_type,
  merchantId: row.merchant_id,
  name: row.name,
  tokenEndpointAuthMethod: row.token_endpoint_auth_method,
  redirectUris: row.redirect_uris,
  scopes: row.scopes,
  dpopBound: row.dpop_bound,
  firstParty: row.first_party,
  jwks: row.jwks,
  createdAt: row.created_at,
  secretHash: row.secret_hash,
});

function invalid(detail: string): OAuthError {
  return new OAuthError(ErrorKind.InvalidInput, OAuthErrorCode.ClientInvalid, detail);
}

/** Merchants and OAuth clients: the only writer of `merchants` and `oauth_clients`. */
@Injectable()
export class ClientRegistry {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly audit: AuditService,
  ) {}

  async createMerchant(name: string, actor: Principal | null, manager?: EntityManager): Promise<Merchant> {
    const work = async (tx: EntityManager): Promise<Merchant> => {
      const merchant = { id: newId(), name, createdAt: this.clock.now() };
      await tx.query('INSERT INTO merchants (id, name, created_at) VALUES ($1, $2, $3)', [merchant.id, merchant.name, merchant.createdAt]);
      await this.audit.record(
        { actor, action: 'merchant.created', resourceType: 'merchant', resourceId: merchant.id, outcome: 'success' },
        tx,
      );
      return merchant;
    };
    return manager ? work(manager) : this.dataSource.transaction(work);
  }

  async findMerchant(id: string): Promise<Merchant | null> {
    const rows: { id: string; name: string; created_at: Date }[] = await this.dataSource.query(
      'SELECT id, name, created_at FROM merchants WHERE id = $1',
      [id],
    );
    const row = rows[0];
    return row ? { id: row.id, name: row.name, createdAt: row.created_at } : null;
  }

  /** Registers a client after checking every rule of its type; the secret (if any) is returned once. */
  async createClient(input: NewClient, actor: Principal | null, manager?: EntityManager): Promise<CreatedClient> {
    const allowed = SCOPES_BY_CLIENT_TYPE[input.clientType];
    const scopes = input.scopes ?? allowed;
    const beyond = scopes.filter((scope) => !allowed.includes(scope));
    if (beyond.length > 0) throw invalid(`A ${input.clientType} client may not hold ${beyond.join(', ')}.`);
    if (scopes.length === 0) throw invalid('A client needs at least one scope.');
    const merchantId = input.merchantId ?? null;
    const needsMerchant = input.clientType === 'mini_program' || input.clientType === 'merchant';
    if (needsMerchant && merchantId === null) throw invalid(`A ${input.clientType} client belongs to a merchant: give merchantId.`);
    if (!needsMerchant && merchantId !== null) throw invalid(`A ${input.clientType} client belongs to no merchant.`);
    const method = input.tokenEndpointAuthMethod ?? (input.jwks ? 'private_key_jwt' : 'client_secret_basic');
    // A public client is a mini-program, or the first-party compliance console (a browser page using PKCE).
    if (method === 'none' && input.clientType !== 'mini_program' && !(input.clientType === 'compliance' && input.firstParty === true))
      throw invalid('Only a mini-program or the first-party console may be a public client (no client authentication).');
    if (method === 'private_key_jwt' && (!input.jwks || input.jwks.keys.length === 0))
      throw invalid("private_key_jwt needs the client's public keys (jwks).");
    if (method !== 'private_key_jwt' && input.jwks) throw invalid('jwks are only for private_key_jwt clients.');
    if (input.jwks?.keys.some((key) => 'd' in key || key.kty === 'oct')) throw invalid('jwks must hold public keys only.');
    const redirectUris = [...new Set(input.redirectUris ?? [])];
    const usesCodeFlow = input.clientType === 'mini_program' || input.firstParty === true;
    if (usesCodeFlow && redirectUris.length === 0) throw invalid('A client that signs users in needs at least one redirect URI.');
    if (!usesCodeFlow && redirectUris.length > 0) throw invalid('Only clients that sign users in have redirect URIs.');
    const badUri = redirectUris.find((uri) => !isAllowedRedirectUri(uri));
    if (badUri !== undefined) throw invalid('Redirect URIs must be absolute https URLs without a fragment (http only on localhost).');
    if (input.clientId !== undefined && !CLIENT_ID_PATTERN.test(input.clientId))
      throw invalid('A client id is a lower-case prefix, an underscore and 8 to 40 letters or digits.');

    const clientId =
      input.clientId ??
      `${CLIENT_ID_PREFIX[input.clientType]}_${randomBytes(18).toString('base64url').replace(/[-_]/g, '').slice(0, 20).padEnd(20, '0')}`;
    const needsSecret = method === 'client_secret_basic' || method === 'client_secret_post';
    const clientSecret = needsSecret ? (input.clientSecret ?? `cgs_${randomBytes(32).toString('base64url')}`) : null;
    const work = async (tx: EntityManager): Promise<CreatedClient> => {
      if (merchantId !== null) {
        const found: unknown[] = await tx.query('SELECT 1 FROM merchants WHERE id = $1', [merchantId]);
        if (found.length === 0) throw new OAuthError(ErrorKind.NotFound, OAuthErrorCode.MerchantNotFound, 'No merchant has this id.');
      }
      const rows: ClientRow[] = await tx.query(
        `INSERT INTO oauth_clients (client_id, client_type, merchant_id, name, token_endpoint_auth_method, secret_hash, redirect_uris, jwks, scopes, dpop_bound, first_party, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         RETURNING *`,
        [
          clientId,
          input.clientType,
          merchantId,
          input.name,
          method,
          clientSecret === null ? null : hashClientSecret(clientSecret),
          redirectUris,
          input.jwks ?? null,
          scopes,
          input.dpopBound ?? false,
          input.firstParty ?? false,
          this.clock.now(),
        ],
      );
      const row = rows[0];
      if (row === undefined) throw new Error('client insert returned nothing');
      await this.audit.record(
        {
          actor,
          action: 'client.created',
          resourceType: 'oauth_client',
          resourceId: clientId,
          outcome: 'success',
          details: { clientType: input.clientType, merchantId, scopes: [...scopes] },
        },
        tx,
      );
      const { secretHash: _hidden, ...client } = toClient(row);
      return { client, clientSecret };
    };
    return manager ? work(manager) : this.dataSource.transaction(work);
  }

  async findClient(clientId: string): Promise<StoredClient | null> {
    if (!CLIENT_ID_PATTERN.test(clientId)) return null;
    const rows: ClientRow[] = await this.dataSource.query('SELECT * FROM oauth_clients WHERE client_id = $1', [clientId]);
    return rows[0] ? toClient(rows[0]) : null;
  }

  /**
   * Makes sure the compliance console's client exists: first party, public (PKCE), `audit:read`, the
   * authorization code flow back to `redirectUri` (the console page). Its redirect URI follows
   * PUBLIC_URL when that changes. Who may grant it `audit:read` is decided at consent (the compliance role).
   */
  async ensureConsoleClient(redirectUri: string): Promise<'created' | 'updated' | 'unchanged'> {
    return this.dataSource.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [0x636f6e73]);
      const rows: ClientRow[] = await tx.query('SELECT * FROM oauth_clients WHERE client_id = $1', [CONSOLE_CLIENT_ID]);
      const existing = rows[0];
      if (existing === undefined) {
        await this.createClient(
          {
            clientType: 'compliance',
            name: 'creditgate compliance console',
            clientId: CONSOLE_CLIENT_ID,
            tokenEndpointAuthMethod: 'none',
            firstParty: true,
            redirectUris: [redirectUri],
            scopes: ['audit:read'],
          },
          null,
          tx,
        );
        return 'created';
      }
      if (existing.redirect_uris.length === 1 && existing.redirect_uris[0] === redirectUri) return 'unchanged';
      if (!isAllowedRedirectUri(redirectUri)) throw invalid('The console redirect URI must be https (http only on localhost).');
      await tx.query('UPDATE oauth_clients SET redirect_uris = $2 WHERE client_id = $1', [CONSOLE_CLIENT_ID, [redirectUri]]);
      await this.audit.record(
        {
          actor: null,
          action: 'client.redirect_uris_changed',
          resourceType: 'oauth_client',
          resourceId: CONSOLE_CLIENT_ID,
          outcome: 'success',
          details: { redirectUris: [redirectUri] },
        },
        tx,
      );
      return 'updated';
    });
  }

  /**
   * Makes sure the platform client from configuration exists with exactly that secret (creating it, or
   * replacing its secret's hash), for fresh deployments and automation.
   */
  async ensurePlatformClient(clientId: string, clientSecret: string): Promise<'created' | 'updated' | 'unchanged'> {
    return this.dataSource.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [0x706c6174]);
      const rows: ClientRow[] = await tx.query('SELECT * FROM oauth_clients WHERE client_id = $1', [clientId]);
      const existing = rows[0];
      if (existing === undefined) {
        await this.createClient({ clientType: 'platform', name: 'Platform (from configuration)', clientId, clientSecret }, null, tx);
        return 'created';
      }
      if (existing.client_type !== 'platform') throw new Error(`PLATFORM_CLIENT_ID ${clientId} names a ${existing.client_type} client`);
      if (clientSecretMatches(existing.secret_hash, clientSecret)) return 'unchanged';
      // The one sanctioned change of a client row: configuration rotated the platform secret.
      await tx.query('UPDATE oauth_clients SET secret_hash = $2 WHERE client_id = $1', [clientId, hashClientSecret(clientSecret)]);
      await this.audit.record(
        { actor: null, action: 'client.secret_rotated', resourceType: 'oauth_client', resourceId: clientId, outcome: 'success' },
        tx,
      );
      return 'updated';
    });
  }
}
