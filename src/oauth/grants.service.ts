import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service.js';
import { ErrorKind } from '../common/errors/domain-error.js';
import { decodeCursor, type Page, toPage } from '../common/pagination/cursor.js';
import type { Principal } from '../common/principal.js';
import { OAuthError, OAuthErrorCode } from './oauth.errors.js';

export interface UserGrant {
  readonly id: string;
  readonly clientId: string;
  readonly clientName: string;
  readonly merchantName: string | null;
  readonly scopes: string[];
  readonly grantedAt: Date;
  readonly expiresAt: Date | null;
}

interface GrantRow {
  id: string;
  payload: { clientId: string; iat: number; openid?: { scope?: string }; resources?: Record<string, string> };
  expires_at: Date | null;
  client_name: string | null;
  merchant_name: string | null;
}

/** The consents (oidc-provider grants) a user has given, which the user can list and withdraw. */
@Injectable()
export class GrantsService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly audit: AuditService,
  ) {}

  async list(userId: string, limit: number, cursor: string | undefined): Promise<Page<UserGrant>> {
    const after = cursor === undefined ? undefined : decodeCursor(cursor);
    const rows: GrantRow[] = await this.dataSource.query(
      `SELECT g.id, g.payload, g.expires_at, c.name AS client_name, m.name AS merchant_name
         FROM oidc_payloads g
         LEFT JOIN oauth_clients c ON c.client_id = g.payload->>'clientId'
         LEFT JOIN merchants m ON m.id = c.merchant_id
        WHERE g.type = 'Grant' AND g.account_id = $1
          AND ($2::bigint IS NULL OR ((g.payload->>'iat')::bigint, g.id) < ($2::bigint, $3::text))
        ORDER BY (g.payload->>'iat')::bigint DESC, g.id DESC
        LIMIT $4`,
      [userId, after?.key ?? null, after?.id ?? '', limit + 1],
    );
    return toPage(
      rows,
      limit,
      (row) => ({ key: String(row.payload.iat), id: row.id }),
      (row) => ({
        id: row.id,
        clientId: row.payload.clientId,
        clientName: row.client_name ?? row.payload.clientId,
        merchantName: row.merchant_name,
        scopes: scopesOf(row.payload),
        grantedAt: new Date(row.payload.iat * 1000),
        expiresAt: row.expires_at,
      }),
    );
  }

  /** Revokes every grant `userId` gave `clientId` (a role taken away), each one recorded; returns how many. */
  async revokeAllOfClient(userId: string, clientId: string, actor: Principal, manager: EntityManager): Promise<number> {
    const grants: { id: string }[] = await manager.query(
      `SELECT id FROM oidc_payloads WHERE type = 'Grant' AND account_id = $1 AND payload->>'clientId' = $2 FOR UPDATE`,
      [userId, clientId],
    );
    for (const { id } of grants) {
      await manager.query(
        `DELETE FROM oidc_payloads WHERE grant_id = $1 AND type IN ('RefreshToken', 'AuthorizationCode', 'AccessToken')`,
        [id],
      );
      await manager.query(`DELETE FROM oidc_payloads WHERE type = 'Grant' AND id = $1`, [id]);
      await this.audit.record(
        {
          actor,
          action: 'oauth.grant.revoked',
          resourceType: 'oauth_grant',
          resourceId: id,
          outcome: 'success',
          details: { by: 'role_removed', clientId },
        },
        manager,
      );
    }
    return grants.length;
  }

  /** Withdraws a consent: the grant, its refresh tokens and codes go; issued access tokens expire within their TTL. */
  async revoke(principal: Principal, grantId: string): Promise<void> {
    const userId = principal.userId;
    if (userId === null) throw new Error('revoke needs a user');
    await this.dataSource.transaction(async (manager) => {
      const owned: unknown[] = await manager.query(
        `SELECT 1 FROM oidc_payloads WHERE type = 'Grant' AND id = $1 AND account_id = $2 FOR UPDATE`,
        [grantId, userId],
      );
      // Someone else's grant and no grant at all look the same.
      if (owned.length === 0) throw new OAuthError(ErrorKind.NotFound, OAuthErrorCode.GrantNotFound, 'You have no grant with this id.');
      await manager.query(
        `DELETE FROM oidc_payloads WHERE grant_id = $1 AND type IN ('RefreshToken', 'AuthorizationCode', 'AccessToken')`,
        [grantId],
      );
      await manager.query(`DELETE FROM oidc_payloads WHERE type = 'Grant' AND id = $1`, [grantId]);
      await this.audit.record(
        {
          actor: principal,
          action: 'oauth.grant.revoked',
          resourceType: 'oauth_grant',
          resourceId: grantId,
          outcome: 'success',
          details: { by: 'user' },
        },
        manager,
      );
    });
  }
}

function scopesOf(payload: GrantRow['payload']): string[] {
  const all = [payload.openid?.scope ?? '', ...Object.values(payload.resources ?? {})].join(' ').split(' ');
  return [...new Set(all.filter((scope) => scope.length > 0 && scope !== 'openid'))].sort();
}
