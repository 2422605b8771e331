import type { Adapter, AdapterPayload } from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { DataSource } from 'typeorm';
import type { Clock } from '../common/clock/clock.js';
import type { ClientRegistry, StoredClient } from './client-registry.js';

/** Models whose rows carry a grant id, so revoking a grant reaches them. */
const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'ClientCredentials',
]);

interface PayloadRow {
  payload: AdapterPayload;
  consumed_at: Date | null;
}

/** Client metadata in the form oidc-provider validates, from a registered client. */
export function clientMetadata(client: StoredClient): AdapterPayload {
  const signsUsersIn = client.redirectUris.length > 0;
  return {
    client_id: client.clientId,
    client_name: client.name,
    ...(client.secretHash === null ? {} : { client_secret: client.secretHash }),
    token_endpoint_auth_method: client.tokenEndpointAuthMethod,
    grant_types: signsUsersIn ? ['authorization_code', 'refresh_token'] : ['client_credentials'],
    response_types: signsUsersIn ? ['code'] : [],
    response_modes: ['query'],
    redirect_uris: [...client.redirectUris],
    scope: client.scopes.join(' '),
    dpop_bound_access_tokens: client.dpopBound,
    ...(client.jwks === null ? {} : { jwks: client.jwks }),
    application_type: 'web',
    client_type: client.clientType,
    merchant_id: client.merchantId ?? undefined,
    first_party: client.firstParty,
  };
}

/**
 * oidc-provider's storage on PostgreSQL: one row a model instance in `oidc_payloads`. Consuming is a
 * conditional UPDATE, so of two concurrent uses of one code or refresh token exactly one succeeds;
 * the other gets `invalid_grant` before any token is issued. Clients come from the client registry.
 */
export function createOidcAdapter(dataSource: DataSource, clients: ClientRegistry, clock: Clock): new (name: string) => Adapter {
  return class PgOidcAdapter implements Adapter {
    constructor(private readonly name: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      if (this.name === 'Client') throw new Error('clients are registered through the client registry');
      const expiresAt = expiresIn === undefined ? null : new Date(clock.nowMs() + expiresIn * 1000);
      await dataSource.query(
        `INSERT INTO oidc_payloads (id, type, payload, grant_id, user_code, uid, account_id, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id, type) DO UPDATE
           SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id, user_code = EXCLUDED.user_code,
               uid = EXCLUDED.uid, account_id = EXCLUDED.account_id, expires_at = EXCLUDED.expires_at`,
        [
          id,
          this.name,
          payload,
          payload.grantId ?? null,
          payload.userCode ?? null,
          payload.uid ?? null,
          payload.accountId ?? null,
          expiresAt,
        ],
      );
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.name === 'Client') {
        const client = await clients.findClient(id);
        return client === null ? undefined : clientMetadata(client);
      }
      const rows: PayloadRow[] = await dataSource.query('SELECT payload, consumed_at FROM oidc_payloads WHERE id = $1 AND type = $2', [
        id,
        this.name,
      ]);
      const row = rows[0];
      if (row === undefined) return undefined;
      return row.consumed_at === null ? row.payload : { ...row.payload, consumed: Math.floor(row.consumed_at.getTime() / 1000) };
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const rows: PayloadRow[] = await dataSource.query('SELECT payload, consumed_at FROM oidc_payloads WHERE uid = $1 AND type = $2', [
        uid,
        this.name,
      ]);
      return rows[0]?.payload;
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      const rows: PayloadRow[] = await dataSource.query(
        'SELECT payload, consumed_at FROM oidc_payloads WHERE user_code = $1 AND type = $2',
        [userCode, this.name],
      );
      return rows[0]?.payload;
    }

    async consume(id: string): Promise<void> {
      const result: [unknown[], number] = await dataSource.query(
        'UPDATE oidc_payloads SET consumed_at = $3 WHERE id = $1 AND type = $2 AND consumed_at IS NULL',
        [id, this.name, clock.now()],
      );
      // Another request consumed it between oidc-provider's find and this consume: this one loses.
      if (result[1] !== 1) throw new errors.InvalidGrant(`${this.name} already consumed`);
    }

    async destroy(id: string): Promise<void> {
      await dataSource.query('DELETE FROM oidc_payloads WHERE id = $1 AND type = $2', [id, this.name]);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      if (!GRANTABLE.has(this.name)) return;
      await dataSource.query('DELETE FROM oidc_payloads WHERE grant_id = $1 AND type = $2', [grantId, this.name]);
    }
  };
}

/** Deletes rows past their expiry (plus a margin for clock tolerance), in bounded batches. */
export async function purgeExpiredOidcPayloads(dataSource: DataSource, now: Date): Promise<number> {
  let purged = 0;
  for (;;) {
    const result: [unknown[], number] = await dataSource.query(
      `DELETE FROM oidc_payloads WHERE ctid IN (
         SELECT ctid FROM oidc_payloads WHERE expires_at < $1::timestamptz - interval '5 minutes' LIMIT 1000)`,
      [now],
    );
    purged += result[1];
    if (result[1] < 1000) return purged;
  }
}
