import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { newId } from '../common/ids.js';
import { AuditService } from '../audit/audit.service.js';
import { ReadRound, type RoundReader } from '../common/read-round.js';
import { Clock } from '../common/clock/clock.js';
import { ErrorKind } from '../common/errors/domain-error.js';
import { type Principal, userOf } from '../common/principal.js';
import { AppConfig } from '../config/app-config.js';
import { checkFullName } from './full-name.js';
import { type AuthorityAnswer, IDENTITY_AUTHORITY, type IdentityAuthority } from './identity-authority.js';
import { IdentityError, IdentityErrorCode, idNumberRefused } from './identity.errors.js';
import { PiiCipher } from './pii-cipher.js';
import { ageOn, chinaDate, maskIdNumber, parseResidentIdNumber } from './resident-id-number.js';

export type IdentityStatusCode = 'unverified' | 'verified' | 'rejected';

/** What creditgate knows of a user's identity, with nothing that needs decrypting. */
export interface IdentityStatus {
  readonly status: IdentityStatusCode;
  readonly maskedIdNumber: string | null;
  readonly verifiedAt: Date | null;
  /** `YYYY-MM-DD`, from the number; for rules (age), never shown to clients. */
  readonly birthDate: string | null;
  /** Whole years today (China Standard Time). */
  readonly age: number | null;
  readonly rejectionCode: string | null;
}

export interface VerificationResult extends IdentityStatus {
  /** The attempt's id. */
  readonly id: string;
}

interface RecordRow {
  user_id: string;
  status: 'verified' | 'rejected';
  id_number_masked: string | null;
  verified_at: Date | null;
  birth_date: string | null;
  rejection_code: string | null;
}

/** Attempts that count against the limit: refusals by the authority, bound numbers, and attempts still in flight. */
const COUNTED_OUTCOMES = ['PENDING', 'NAME_MISMATCH', 'IDENTITY_NOT_FOUND', 'ALREADY_BOUND'];
const ATTEMPT_WINDOW_MS = 24 * 3_600_000;
/** How long to wait before trying again when the authority is down. */
const AUTHORITY_RETRY_AFTER_SECONDS = 30;
const ROTATION_BATCH_SIZE = 200;
const FIELD_NAME = 'full_name';
const FIELD_NUMBER = 'id_number';

function isUniqueViolation(error: unknown): boolean {
  const candidate = error as { code?: unknown; driverError?: { code?: unknown } };
  return candidate.code === '23505' || candidate.driverError?.code === '23505';
}

/** The most user ids one status query reads. */
const STATUS_BATCH_LIMIT = 256;

/**
 * Real-name verification and what other modules may know of it. The only reader and writer of
 * `identity_records` and `identity_verifications`. Names and numbers are held in memory only while a
 * verification runs, stored only encrypted, and never logged, audited or put in an error.
 */
@Injectable()
export class IdentityService {
  private readonly cipher: PiiCipher;
  /** Status reads join the turn's read round (not a cache: see ReadRound). */
  private readonly statusReads: RoundReader<RecordRow>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly config: AppConfig,
    @Inject(IDENTITY_AUTHORITY) private readonly authority: IdentityAuthority,
    reads: ReadRound,
  ) {
    this.cipher = new PiiCipher(config.identity.encryptionKeys, config.identity.blindIndexKey);
    this.statusReads = reads.reader({
      sql: (userIds) =>
        `SELECT user_id, status, id_number_masked, verified_at, to_char(birth_date, 'YYYY-MM-DD') AS birth_date, rejection_code
           FROM identity_records WHERE user_id = ANY(${userIds})`,
      answer: (rows: RecordRow[]) => new Map(rows.map((row) => [row.user_id, row])),
      maxKeys: STATUS_BATCH_LIMIT,
    });
  }

  /**
   * Verifies a name and an ID number for the calling user. The number's own rules are checked first
   * (each has its code, and none counts as an attempt); then the failed-attempt limit; then the
   * authority; then the one-number-one-account rule, which the database's unique index settles.
   */
  async verify(principal: Principal, input: { readonly fullName: string; readonly idNumber: string }): Promise<VerificationResult> {
    const userId = userOf(principal);
    const name = checkFullName(input.fullName);
    if (!name.ok) {
      throw new IdentityError(ErrorKind.Unprocessable, IdentityErrorCode.InvalidName, name.reason, {
        errors: [{ field: 'fullName', rule: 'fullName', message: name.reason }],
      });
    }
    const now = this.clock.now();
    const parsed = parseResidentIdNumber(input.idNumber, chinaDate(now));
    if (!parsed.ok) throw idNumberRefused(parsed.problem);
    const idNumber = parsed.idNumber;

    const attemptId = newId();
    await this.claimAttempt(principal, userId, attemptId);

    let answer: AuthorityAnswer;
    try {
      answer = await this.authority.check(name.fullName, idNumber.value);
    } catch {
      // A provider that throws is a provider that is down; its message may echo what it was sent.
      answer = 'UNAVAILABLE';
    }

    if (answer === 'UNAVAILABLE') {
      await this.finishAttempt(principal, attemptId, 'AUTHORITY_UNAVAILABLE');
      throw new IdentityError(
        ErrorKind.Unavailable,
        IdentityErrorCode.AuthorityUnavailable,
        'The identity authority cannot answer now. Try again later with the same Idempotency-Key.',
        { retryAfterSeconds: AUTHORITY_RETRY_AFTER_SECONDS },
      );
    }
    if (answer === 'NAME_MISMATCH' || answer === 'NOT_FOUND') {
      const code = answer === 'NAME_MISMATCH' ? IdentityErrorCode.NameMismatch : IdentityErrorCode.IdentityNotFound;
      await this.dataSource.transaction(async (manager) => {
        await this.finishAttempt(principal, attemptId, code, manager);
        // A verified identity stays verified; otherwise the user's status records the rejection.
        await manager.query(
          `INSERT INTO identity_records (user_id, status, rejection_code, updated_at) VALUES ($1, 'rejected', $2, $3)
           ON CONFLICT (user_id) DO UPDATE SET rejection_code = EXCLUDED.rejection_code, updated_at = EXCLUDED.updated_at
           WHERE identity_records.status = 'rejected'`,
          [userId, code, now],
        );
      });
      throw new IdentityError(
        ErrorKind.Unprocessable,
        code,
        code === IdentityErrorCode.NameMismatch
          ? 'The identity authority says this name does not belong to this ID number.'
          : 'The identity authority has no record of this ID number.',
      );
    }

    const record = {
      fullNameCipher: this.cipher.encrypt(FIELD_NAME, name.fullName),
      idNumberCipher: this.cipher.encrypt(FIELD_NUMBER, idNumber.value),
      idNumberIndex: this.cipher.blindIndex(FIELD_NUMBER, idNumber.value),
      masked: maskIdNumber(idNumber.value),
    };
    try {
      const stored = await this.dataSource.transaction(async (manager) => {
        const rows: unknown[] = await manager.query(
          `INSERT INTO identity_records
             (user_id, status, full_name_cipher, id_number_cipher, id_number_index, id_number_masked, birth_date, verified_at, updated_at)
           VALUES ($1, 'verified', $2, $3, $4, $5, $6, $7, $7)
           ON CONFLICT (user_id) DO UPDATE SET
             status = 'verified', full_name_cipher = EXCLUDED.full_name_cipher, id_number_cipher = EXCLUDED.id_number_cipher,
             id_number_index = EXCLUDED.id_number_index, id_number_masked = EXCLUDED.id_number_masked,
             birth_date = EXCLUDED.birth_date, verified_at = EXCLUDED.verified_at, rejection_code = NULL,
             updated_at = EXCLUDED.updated_at
           WHERE identity_records.status = 'rejected'
           RETURNING user_id`,
          [userId, record.fullNameCipher, record.idNumberCipher, record.idNumberIndex, record.masked, idNumber.birthDate, now],
        );
        // Nothing written: another attempt of this user verified first (the two ran at once).
        if (rows.length === 0) return false;
        await this.finishAttempt(principal, attemptId, 'VERIFIED', manager);
        return true;
      });
      if (!stored) {
        await this.finishAttempt(principal, attemptId, 'ALREADY_VERIFIED_ELSEWHERE');
        throw alreadyVerified();
      }
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      await this.finishAttempt(principal, attemptId, IdentityErrorCode.AlreadyBound);
      throw new IdentityError(
        ErrorKind.Conflict,
        IdentityErrorCode.AlreadyBound,
        'This ID number is already verified for another account. One ID number belongs to one account.',
      );
    }
    return {
      id: attemptId,
      status: 'verified',
      maskedIdNumber: record.masked,
      verifiedAt: now,
      birthDate: idNumber.birthDate,
      age: ageOn(idNumber.birthDate, chinaDate(now)),
      rejectionCode: null,
    };
  }

  /** The user's identity status for the user's own client, recorded in the audit trail with its purpose. */
  async read(principal: Principal, purpose: string): Promise<IdentityStatus> {
    const userId = userOf(principal);
    const status = await this.status(userId);
    await this.audit.record({
      actor: principal,
      action: 'identity.record.read',
      resourceType: 'identity',
      resourceId: userId,
      outcome: 'success',
      purpose,
      details: { status: status.status },
    });
    return status;
  }

  /**
   * What other modules may know of a user's identity (status, age, birth date), without decrypting
   * anything. The caller records why it read it (the waiver decision records its facts).
   */
  async status(userId: string): Promise<IdentityStatus> {
    // PostgreSQL answers uuids in lower case: the key must be too, or a match would be missed.
    const row = await this.statusReads.load(userId.toLowerCase());
    if (row === undefined) {
      return { status: 'unverified', maskedIdNumber: null, verifiedAt: null, birthDate: null, age: null, rejectionCode: null };
    }
    return {
      status: row.status,
      maskedIdNumber: row.id_number_masked,
      verifiedAt: row.verified_at,
      birthDate: row.birth_date,
      age: row.birth_date === null ? null : ageOn(row.birth_date, chinaDate(this.clock.now())),
      rejectionCode: row.rejection_code,
    };
  }

  /**
   * Re-encrypts every stored name and number that is not under the current key (the first of
   * PII_ENCRYPTION_KEYS), in batches, each in its own transaction; safe to run again or beside the
   * service. Returns how many identities were rewritten.
   */
  async rotateKeys(): Promise<{ readonly rotated: number; readonly keyId: string }> {
    const current = this.cipher.currentKeyId;
    let rotated = 0;
    for (;;) {
      const done = await this.dataSource.transaction(async (manager) => {
        const rows: { user_id: string; full_name_cipher: string; id_number_cipher: string }[] = await manager.query(
          `SELECT user_id, full_name_cipher, id_number_cipher FROM identity_records
            WHERE status = 'verified' AND (split_part(full_name_cipher, '.', 2) <> $1 OR split_part(id_number_cipher, '.', 2) <> $1)
            ORDER BY user_id LIMIT $2 FOR UPDATE SKIP LOCKED`,
          [current, ROTATION_BATCH_SIZE],
        );
        for (const row of rows) {
          await manager.query('UPDATE identity_records SET full_name_cipher = $2, id_number_cipher = $3 WHERE user_id = $1', [
            row.user_id,
            this.cipher.rotate(FIELD_NAME, row.full_name_cipher),
            this.cipher.rotate(FIELD_NUMBER, row.id_number_cipher),
          ]);
        }
        rotated += rows.length;
        return rows.length < ROTATION_BATCH_SIZE;
      });
      if (done) break;
    }
    await this.audit.record({
      actor: null,
      action: 'identity.keys.rotated',
      resourceType: 'identity_key',
      resourceId: current,
      outcome: 'success',
      details: { rotated },
    });
    return { rotated, keyId: current };
  }

  /**
   * Takes one attempt from the user's allowance, or refuses with 429 when the failures of the last 24
   * hours reached the limit. Serialised per user (an advisory lock), so concurrent attempts cannot
   * overrun it; an attempt in flight counts until it is decided.
   */
  private async claimAttempt(principal: Principal, userId: string, attemptId: string): Promise<void> {
    const now = this.clock.now();
    const limit = this.config.identity.maxFailedAttempts;
    const refusal = await this.dataSource.transaction(async (manager) => {
      await manager.query(`SELECT pg_advisory_xact_lock(hashtextextended('identity:' || $1, 0))`, [userId]);
      const verified: unknown[] = await manager.query(`SELECT 1 FROM identity_records WHERE user_id = $1 AND status = 'verified'`, [
        userId,
      ]);
      if (verified.length > 0) return alreadyVerified();
      const counted: { created_at: Date }[] = await manager.query(
        `SELECT created_at FROM identity_verifications
          WHERE user_id = $1 AND created_at > $2 AND outcome = ANY($3)
          ORDER BY created_at LIMIT 100`,
        [userId, new Date(now.getTime() - ATTEMPT_WINDOW_MS), COUNTED_OUTCOMES],
      );
      if (counted.length >= limit) {
        // The user may try again when enough failures have aged out of the window to go below the limit.
        const freedBy = counted[counted.length - limit]?.created_at ?? now;
        const retryAfterSeconds = Math.max(1, Math.ceil((freedBy.getTime() + ATTEMPT_WINDOW_MS - now.getTime()) / 1000));
        return new IdentityError(
          ErrorKind.RateLimited,
          IdentityErrorCode.TooManyAttempts,
          `At most ${limit} failed verifications are allowed in 24 hours; try again later.`,
          { retryAfterSeconds },
        );
      }
      await manager.query(
        `INSERT INTO identity_verifications (id, user_id, client_id, outcome, created_at) VALUES ($1, $2, $3, 'PENDING', $4)`,
        [attemptId, userId, principal.clientId, now],
      );
      return null;
    });
    if (refusal !== null) {
      await this.recordOutcome(principal, null, refusal.code);
      throw refusal;
    }
  }

  /** Settles an attempt and records it for audit (in `manager`'s transaction when given). */
  private async finishAttempt(
    principal: Principal,
    attemptId: string,
    outcome: 'VERIFIED' | 'AUTHORITY_UNAVAILABLE' | 'ALREADY_VERIFIED_ELSEWHERE' | IdentityErrorCode,
    manager?: EntityManager,
  ): Promise<void> {
    const work = async (manager: EntityManager): Promise<void> => {
      // A lost race with another attempt of the same user is not the user's failure: it does not count.
      const stored = outcome === 'ALREADY_VERIFIED_ELSEWHERE' ? 'SUPERSEDED' : outcome;
      await manager.query(`UPDATE identity_verifications SET outcome = $2, decided_at = $3 WHERE id = $1 AND outcome = 'PENDING'`, [
        attemptId,
        stored,
        this.clock.now(),
      ]);
      await this.recordOutcome(
        principal,
        attemptId,
        outcome === 'VERIFIED' ? null : outcome === 'ALREADY_VERIFIED_ELSEWHERE' ? IdentityErrorCode.AlreadyVerified : outcome,
        manager,
      );
    };
    await (manager === undefined ? this.dataSource.transaction(work) : work(manager));
  }

  private async recordOutcome(principal: Principal, attemptId: string | null, problemCode: string | null, manager?: EntityManager) {
    await this.audit.record(
      {
        actor: principal,
        action: 'identity.verification.completed',
        resourceType: 'identity_verification',
        resourceId: attemptId,
        outcome: problemCode === null ? 'success' : 'failure',
        problemCode,
      },
      manager,
    );
  }
}

function alreadyVerified(): IdentityError {
  return new IdentityError(
    ErrorKind.Conflict,
    IdentityErrorCode.AlreadyVerified,
    'This account already has a verified identity; it cannot be changed here.',
  );
}
