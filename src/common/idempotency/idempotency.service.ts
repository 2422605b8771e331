import { createHmac, hkdfSync } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AppConfig } from '../../config/app-config.js';
import { canonicalJson } from '../canonical-json.js';
import { Clock } from '../clock/clock.js';
import { CommonError, CommonErrorCode, ErrorKind } from '../errors/domain-error.js';

export interface IdempotentRequest {
  readonly clientId: string;
  readonly key: string;
  readonly method: string;
  readonly path: string;
  readonly body: unknown;
}

/** What to do with a request that carries a key. */
export type Claim =
  { readonly kind: 'proceed'; readonly lockedAt: Date } | { readonly kind: 'replay'; readonly status: number; readonly body: unknown };

interface StoredKey {
  request_hash: string;
  state: 'in_progress' | 'completed';
  locked_at: Date | null;
  response_status: number | null;
  response_body: unknown;
  expires_at: Date;
}

const WELL_FORMED_KEY = /^[\x21-\x7e]{1,255}$/;
const PURGE_BATCH_SIZE = 1000;
const MAX_STORED_BODY_BYTES = 1_048_576;

/**
 * Stores idempotency keys in `idempotency_keys`. Races are settled by the primary key: of two
 * identical requests arriving together exactly one inserts the row and runs; the other sees it.
 */
@Injectable()
export class IdempotencyService {
  /**
   * The request fingerprint is keyed: a body may hold personal data (a name and an ID number), and a
   * plain hash of a value from a small space can be reversed by trying every value. The key is derived
   * from the blind-index key (HKDF, its own label), so there is no further secret to manage.
   */
  private readonly fingerprintKey: Buffer;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly config: AppConfig,
  ) {
    this.fingerprintKey = Buffer.from(
      hkdfSync('sha256', config.identity.blindIndexKey, '', 'creditgate idempotency request fingerprint', 32),
    );
  }

  static assertWellFormed(key: string): void {
    if (!WELL_FORMED_KEY.test(key)) {
      throw new CommonError(
        ErrorKind.InvalidInput,
        CommonErrorCode.IdempotencyKeyInvalid,
        'Idempotency-Key must be 1 to 255 visible ASCII characters.',
      );
    }
  }

  requestHash(request: Pick<IdempotentRequest, 'method' | 'path' | 'body'>): string {
    return createHmac('sha256', this.fingerprintKey)
      .update(canonicalJson([request.method, request.path, request.body ?? null]))
      .digest('hex');
  }

  async claim(request: IdempotentRequest): Promise<Claim> {
    IdempotencyService.assertWellFormed(request.key);
    const requestHash = this.requestHash(request);
    const now = this.clock.now();
    const expiresAt = new Date(now.getTime() + this.config.idempotency.ttlHours * 3_600_000);
    // Two attempts: the second only after removing an expired key that the purger has not reached yet.
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const inserted: unknown[] = await this.dataSource.query(
        `INSERT INTO idempotency_keys (client_id, key, request_hash, method, path, state, locked_at, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, 'in_progress', $6, $6, $7)
         ON CONFLICT (client_id, key) DO NOTHING
         RETURNING 1`,
        [request.clientId, request.key, requestHash, request.method, request.path.slice(0, 2048), now, expiresAt],
      );
      if (inserted.length === 1) return { kind: 'proceed', lockedAt: now };

      const rows: StoredKey[] = await this.dataSource.query(
        `SELECT request_hash, state, locked_at, response_status, response_body, expires_at
           FROM idempotency_keys WHERE client_id = $1 AND key = $2`,
        [request.clientId, request.key],
      );
      const stored = rows[0];
      if (stored === undefined) continue; // purged between the two statements: insert again
      if (stored.expires_at.getTime() <= now.getTime()) {
        await this.dataSource.query('DELETE FROM idempotency_keys WHERE client_id = $1 AND key = $2 AND expires_at <= $3', [
          request.clientId,
          request.key,
          now,
        ]);
        continue;
      }
      if (stored.request_hash !== requestHash) {
        throw new CommonError(
          ErrorKind.Unprocessable,
          CommonErrorCode.IdempotencyKeyReused,
          'This Idempotency-Key was already used with a different request; use a new key for a new request.',
        );
      }
      if (stored.state === 'completed') {
        if (stored.response_status === null) throw new Error('a completed idempotency key has no response');
        return { kind: 'replay', status: stored.response_status, body: stored.response_body };
      }
      return this.takeOverIfStale(request, stored, now);
    }
    throw new CommonError(
      ErrorKind.Conflict,
      CommonErrorCode.IdempotencyRequestInProgress,
      'A request with this Idempotency-Key is in progress; retry later.',
      { retryAfterSeconds: 1 },
    );
  }

  /** A first attempt that stopped (its process died) leaves its key in progress; after the lock timeout a retry may run. */
  private async takeOverIfStale(request: IdempotentRequest, stored: StoredKey, now: Date): Promise<Claim> {
    const lockTimeoutMs = this.config.idempotency.lockTimeoutSeconds * 1000;
    if (stored.locked_at !== null && now.getTime() - stored.locked_at.getTime() >= lockTimeoutMs) {
      const taken: unknown[] = await this.dataSource.query(
        `UPDATE idempotency_keys SET locked_at = $4
          WHERE client_id = $1 AND key = $2 AND state = 'in_progress' AND locked_at = $3
          RETURNING 1`,
        [request.clientId, request.key, stored.locked_at, now],
      );
      // pg returns [rows, count] for UPDATE ... RETURNING through TypeORM's query(); normalise.
      if (affected(taken) === 1) return { kind: 'proceed', lockedAt: now };
    }
    throw new CommonError(
      ErrorKind.Conflict,
      CommonErrorCode.IdempotencyRequestInProgress,
      'A request with this Idempotency-Key is in progress; retry later.',
      {
        retryAfterSeconds: 1,
      },
    );
  }

  /** Stores the response of the attempt that holds the key, so that retries replay it. */
  async complete(request: Pick<IdempotentRequest, 'clientId' | 'key'>, lockedAt: Date, status: number, body: unknown): Promise<void> {
    const json = JSON.stringify(body ?? null);
    if (Buffer.byteLength(json) > MAX_STORED_BODY_BYTES) throw new Error('response too large to keep for idempotent replay');
    await this.dataSource.query(
      `UPDATE idempotency_keys
          SET state = 'completed', response_status = $4, response_body = $5::jsonb, completed_at = $6, locked_at = NULL
        WHERE client_id = $1 AND key = $2 AND state = 'in_progress' AND locked_at = $3`,
      [request.clientId, request.key, lockedAt, status, json, this.clock.now()],
    );
  }

  /** Forgets an attempt that failed in a way a retry may fix (a 5xx), so that the retry runs. */
  async release(request: Pick<IdempotentRequest, 'clientId' | 'key'>, lockedAt: Date): Promise<void> {
    await this.dataSource.query(
      `DELETE FROM idempotency_keys WHERE client_id = $1 AND key = $2 AND state = 'in_progress' AND locked_at = $3`,
      [request.clientId, request.key, lockedAt],
    );
  }

  /** Deletes expired keys in bounded batches; returns how many went. Safe to run on several instances. */
  async purgeExpired(): Promise<number> {
    let purged = 0;
    for (;;) {
      const result: unknown = await this.dataSource.query(
        `DELETE FROM idempotency_keys
          WHERE ctid IN (SELECT ctid FROM idempotency_keys WHERE expires_at <= $1 LIMIT ${PURGE_BATCH_SIZE})`,
        [this.clock.now()],
      );
      const count = affected(result);
      purged += count;
      if (count < PURGE_BATCH_SIZE) return purged;
    }
  }
}

/** TypeORM's postgres query() returns `[rows, affectedCount]` for UPDATE and DELETE. */
function affected(result: unknown): number {
  if (Array.isArray(result) && result.length === 2 && typeof result[1] === 'number') return result[1];
  if (Array.isArray(result)) return result.length;
  return 0;
}
