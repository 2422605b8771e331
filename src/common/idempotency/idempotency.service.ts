import { createHmac, hkdfSync } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AppConfig } from '../../config/app-config.js';
import { canonicalJson } from '../canonical-json.js';
import { Clock } from '../clock/clock.js';
import { CommonError, CommonErrorCode, ErrorKind } from '../errors/domain-error.js';
import { composeParts, type StatementPart } from '../statement-parts.js';
import { withArrayLiterals } from '../pg-array.js';
import { ReadRound, type RoundReader } from '../read-round.js';

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

/**
 * A key that no stored request held when the request arrived, to be written by the handler inside
 * the very transaction that makes its change (`@Idempotent({ claimedInTransaction: true })`):
 * `keepWithin` inserts it there with the response, so the change and the kept response commit
 * together or not at all (no separate commit before and after, and a crash can never leave a done
 * change behind a key "in progress"). `completed` is set by the handler once that transaction has
 * committed. A request that fails keeps its refusal (or nothing) the usual way, through `keep`.
 */
export class TransactionalKey {
  completed = false;

  constructor(
    readonly clientId: string,
    readonly key: string,
    readonly requestHash: string,
    readonly method: string,
    readonly path: string,
    readonly lockedAt: Date,
    readonly expiresAt: Date,
    /** The status the response will have if the handler succeeds (the route's). */
    readonly responseStatus: number,
    /** Top-level response fields kept as null (IdempotentOptions.withheldOnReplay). */
    readonly withheldOnReplay: readonly string[],
  ) {}
}

/**
 * Thrown by a handler for a TransactionalKey that another request holds (a duplicate that ran at the
 * same time, here or on another instance): nothing was done for this one; the interceptor answers
 * with the other request's stored outcome, as a retry would get it.
 */
export class IdempotencyKeyTaken extends Error {
  constructor() {
    super('the idempotency key was claimed by another request first');
  }
}

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
/** Keys one coalesced look-up reads at most. */
const LOOKUP_BATCH_SIZE = 500;

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

  /**
   * Look-ups of keys join the turn's read round (not a cache: see ReadRound), keyed by the JSON pair
   * `[clientId, key]`: a confirmation's key is read with the intents other requests read in that turn.
   */
  private readonly storedKeys: RoundReader<StoredKey>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly config: AppConfig,
    reads: ReadRound,
  ) {
    this.storedKeys = reads.reader({
      keys: 'text',
      sql: (pairs) =>
        `SELECT client_id, key, request_hash, state, locked_at, response_status, response_body, expires_at
           FROM idempotency_keys
          WHERE (client_id, key) IN (SELECT (pair::jsonb)->>0, (pair::jsonb)->>1 FROM unnest(${pairs}) AS u (pair))`,
      answer: (rows: (StoredKey & { client_id: string; key: string })[]) =>
        new Map(rows.map((row) => [JSON.stringify([row.client_id, row.key]), row])),
      maxKeys: LOOKUP_BATCH_SIZE,
    });
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
    // Two attempts: the second only after removing an expired key that the purger has not reached yet.
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const inserted: unknown[] = await this.dataSource.query(
        `INSERT INTO idempotency_keys (client_id, key, request_hash, method, path, state, locked_at, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, 'in_progress', $6, $6, $7)
         ON CONFLICT (client_id, key) DO NOTHING
         RETURNING 1`,
        [request.clientId, request.key, requestHash, request.method, request.path.slice(0, 2048), now, this.expiresAt(now)],
      );
      if (inserted.length === 1) return { kind: 'proceed', lockedAt: now };

      const rows: StoredKey[] = await this.dataSource.query(
        `SELECT request_hash, state, locked_at, response_status, response_body, expires_at
           FROM idempotency_keys WHERE client_id = $1 AND key = $2`,
        [request.clientId, request.key],
      );
      const stored = rows[0];
      if (stored === undefined) continue; // purged between the two statements: insert again
      const settled = await this.settleStored(request, stored, requestHash, now);
      if (settled !== 'expired') return settled;
    }
    throw inProgress();
  }

  /**
   * For a route whose handler claims the key in its own transaction: the stored outcome when a
   * request already holds the key (replay, 422, 409, or a stale key taken over: then `proceed` as in
   * `claim`), otherwise a TransactionalKey for the handler. Only a read: concurrent look-ups share one
   * query, and nothing is written until the handler's transaction.
   */
  async begin(
    request: IdempotentRequest,
    responseStatus: number,
    withheldOnReplay: readonly string[],
  ): Promise<Claim | { readonly kind: 'in_transaction'; readonly key: TransactionalKey }> {
    IdempotencyService.assertWellFormed(request.key);
    const requestHash = this.requestHash(request);
    const now = this.clock.now();
    const stored = await this.storedKeys.load(JSON.stringify([request.clientId, request.key]));
    if (stored !== undefined) {
      const settled = await this.settleStored(request, stored, requestHash, now);
      if (settled !== 'expired') return settled;
    }
    const key = new TransactionalKey(
      request.clientId,
      request.key,
      requestHash,
      request.method,
      request.path.slice(0, 2048),
      now,
      this.expiresAt(now),
      responseStatus,
      withheldOnReplay,
    );
    return { kind: 'in_transaction', key };
  }

  /**
   * Inserts the keys, completed with their responses, inside the caller's transaction (in one order,
   * so that two transactions inserting overlapping keys cannot deadlock over them): the change and the
   * response a retry will replay commit together. Returns the keys another request holds (a committed
   * one, or one in flight whose commit this insert waited for): nothing was inserted for those, and as
   * their changes were made in this transaction, the caller must roll it back and do it again without
   * them (IdempotencyKeyTaken for theirs). Each key must appear once.
   */
  async keepWithin(manager: EntityManager, completions: readonly { key: TransactionalKey; body: unknown }[]): Promise<TransactionalKey[]> {
    const kept = this.keepPart(completions);
    if (kept === undefined) return [];
    const rows: { client_id: string; key: string }[] = await manager.query(
      `WITH ${composeParts([kept.part], 1).ctes} SELECT client_id, key FROM idempotency_keys_kept`,
      withArrayLiterals(kept.part.parameters),
    );
    const inserted = new Set(rows.map((row) => JSON.stringify([row.client_id, row.key])));
    return kept.sorted.filter(({ key }) => !inserted.has(JSON.stringify([key.clientId, key.key]))).map(({ key }) => key);
  }

  /**
   * The insert of `keepWithin`, as a part of the caller's own statement (a CTE named
   * `idempotency_keys_kept`) that fails unless every key was still free: a hot path that cannot
   * afford a round trip for the keys, and falls back to `keepWithin` (which says which keys were
   * taken) when its statement fails. Undefined when there are no keys.
   */
  keepPart(
    completions: readonly { key: TransactionalKey; body: unknown }[],
  ): { part: StatementPart; sorted: { key: TransactionalKey; body: unknown }[] } | undefined {
    if (completions.length === 0) return undefined;
    const sorted = [...completions].sort((a, b) => compare(a.key.clientId, b.key.clientId) || compare(a.key.key, b.key.key));
    const ids = sorted.map(({ key }) => JSON.stringify([key.clientId, key.key]));
    if (new Set(ids).size !== ids.length) throw new Error('idempotency keys: the same key twice in one transaction');
    const bodies = sorted.map(({ key, body }) => {
      const json = JSON.stringify(withholdFields(body === undefined ? null : body, key.withheldOnReplay));
      if (Buffer.byteLength(json) > MAX_STORED_BODY_BYTES) throw new Error('response too large to keep for idempotent replay');
      return json;
    });
    const column = <T>(of: (key: TransactionalKey) => T): T[] => sorted.map(({ key }) => of(key));
    const part: StatementPart = {
      ctes: [
        {
          name: 'idempotency_keys_kept',
          sql: `INSERT INTO idempotency_keys (client_id, key, request_hash, method, path, state, locked_at, response_status, response_body,
                                             created_at, completed_at, expires_at)
                SELECT x.client_id, x.key, x.request_hash, x.method, x.path, 'completed', NULL, x.status, b.body, x.created_at, $10, x.expires_at
                  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $8::timestamptz[], $9::timestamptz[])
                       WITH ORDINALITY AS x(client_id, key, request_hash, method, path, status, created_at, expires_at, position)
                  JOIN jsonb_array_elements($7::jsonb) WITH ORDINALITY AS b(body, position) USING (position)
                 ORDER BY position
                ON CONFLICT (client_id, key) DO NOTHING
                RETURNING client_id, key`,
          rows: sorted.length,
        },
      ],
      parameters: [
        column((key) => key.clientId),
        column((key) => key.key),
        column((key) => key.requestHash),
        column((key) => key.method),
        column((key) => key.path),
        column((key) => key.responseStatus),
        // One JSON document of the bodies, not an array of JSON texts: nothing to escape (pg-array.ts).
        `[${bodies.join(',')}]`,
        column((key) => key.lockedAt),
        column((key) => key.expiresAt),
        this.clock.now(),
      ],
    };
    return { part, sorted };
  }

  /**
   * Keeps the final answer of a TransactionalKey's request that the handler did not complete (it
   * failed before, or outside, its transaction): as `complete`, but the row is new. A request that
   * took the key meanwhile keeps its own.
   */
  async keep(key: TransactionalKey, status: number, body: unknown): Promise<void> {
    const json = JSON.stringify(withholdFields(body ?? null, key.withheldOnReplay));
    if (Buffer.byteLength(json) > MAX_STORED_BODY_BYTES) throw new Error('response too large to keep for idempotent replay');
    const now = this.clock.now();
    await this.dataSource.query(
      `INSERT INTO idempotency_keys (client_id, key, request_hash, method, path, state, locked_at, response_status, response_body,
                                     created_at, completed_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, 'completed', NULL, $6, $7::jsonb, $8, $9, $10)
       ON CONFLICT (client_id, key) DO NOTHING`,
      [key.clientId, key.key, key.requestHash, key.method, key.path, status, json, key.lockedAt, now, key.expiresAt],
    );
  }

  private expiresAt(now: Date): Date {
    return new Date(now.getTime() + this.config.idempotency.ttlHours * 3_600_000);
  }

  /** The answer for a request whose key is stored; 'expired' once an expired key is removed (the caller claims it anew). */
  private async settleStored(request: IdempotentRequest, stored: StoredKey, requestHash: string, now: Date): Promise<Claim | 'expired'> {
    if (stored.expires_at.getTime() <= now.getTime()) {
      await this.dataSource.query('DELETE FROM idempotency_keys WHERE client_id = $1 AND key = $2 AND expires_at <= $3', [
        request.clientId,
        request.key,
        now,
      ]);
      return 'expired';
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
    throw inProgress();
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

/** 409: the key's first request is still running (or died less than the lock timeout ago). */
export function inProgress(): CommonError {
  return new CommonError(
    ErrorKind.Conflict,
    CommonErrorCode.IdempotencyRequestInProgress,
    'A request with this Idempotency-Key is in progress; retry later.',
    { retryAfterSeconds: 1 },
  );
}

/** `body` with each of `fields` (top-level) set to null, when it is a JSON object that has them. */
export function withholdFields(body: unknown, fields: readonly string[]): unknown {
  if (fields.length === 0 || typeof body !== 'object' || body === null || Array.isArray(body)) return body;
  const kept: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  for (const field of fields) if (field in kept) kept[field] = null;
  return kept;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** TypeORM's postgres query() returns `[rows, affectedCount]` for UPDATE and DELETE. */
function affected(result: unknown): number {
  if (Array.isArray(result) && result.length === 2 && typeof result[1] === 'number') return result[1];
  if (Array.isArray(result)) return result.length;
  return 0;
}
