import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { DataSource } from 'typeorm';
import { Clock } from '../common/clock/clock.js';

export const ACCESS_TOKEN_ALGORITHM = 'ES256';

/** Serialises the first start of several instances: only one generates the keys. ("keys") */
const KEY_GENERATION_LOCK = 0x6b657973;

export interface AuthorizationServerKeys {
  /** Private signing keys (JWK with `d`), newest first; the first one signs. */
  readonly signing: readonly JWK[];
  /** The public halves, for verifying access tokens locally. */
  readonly verifying: readonly JWK[];
  /** Keys for the authorization server's signed cookies, newest first. */
  readonly cookie: readonly string[];
}

interface KeyRow {
  kid: string;
  use: 'sig' | 'cookie';
  material: { jwk?: JWK; secret?: string };
}

function publicHalf(jwk: JWK): JWK {
  const { kty, crv, x, y, kid, alg } = jwk;
  return { kty, crv, x, y, kid, alg, use: 'sig' };
}

/**
 * The authorization server's keys, kept in `oauth_keys`. The first start generates an ES256 signing key
 * and a cookie key under an advisory lock; every later start (of any instance) loads the same ones, so
 * tokens issued before a restart stay valid. Rotation adds a key; retired keys stop signing but keep
 * verifying until `retired_at`.
 */
@Injectable()
export class KeyStore {
  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
  ) {}

  async load(): Promise<AuthorizationServerKeys> {
    const rows = await this.dataSource.transaction(async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [KEY_GENERATION_LOCK]);
      let found: KeyRow[] = await manager.query(
        `SELECT kid, use, material FROM oauth_keys WHERE retired_at IS NULL ORDER BY created_at DESC`,
      );
      if (!found.some((row) => row.use === 'sig')) {
        const { privateKey } = await generateKeyPair(ACCESS_TOKEN_ALGORITHM, { extractable: true });
        const jwk = await exportJWK(privateKey);
        const kid = await calculateJwkThumbprint(jwk);
        await manager.query(`INSERT INTO oauth_keys (kid, use, material, created_at) VALUES ($1, 'sig', $2, $3)`, [
          kid,
          { jwk: { ...jwk, kid, alg: ACCESS_TOKEN_ALGORITHM, use: 'sig' } },
          this.clock.now(),
        ]);
      }
      if (!found.some((row) => row.use === 'cookie')) {
        await manager.query(`INSERT INTO oauth_keys (kid, use, material, created_at) VALUES ($1, 'cookie', $2, $3)`, [
          `cookie-${randomBytes(8).toString('hex')}`,
          { secret: randomBytes(32).toString('base64url') },
          this.clock.now(),
        ]);
      }
      found = await manager.query(`SELECT kid, use, material FROM oauth_keys WHERE retired_at IS NULL ORDER BY created_at DESC`);
      return found;
    });
    const signing = rows.flatMap((row) => (row.use === 'sig' && row.material.jwk ? [row.material.jwk] : []));
    const cookie = rows.flatMap((row) => (row.use === 'cookie' && row.material.secret ? [row.material.secret] : []));
    if (signing.length === 0 || cookie.length === 0) throw new Error('the authorization server has no keys');
    for (const jwk of signing) {
      if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || typeof jwk.d !== 'string')
        throw new Error(`signing key ${jwk.kid} is not a private P-256 key`);
    }
    return { signing, verifying: signing.map(publicHalf), cookie };
  }
}
