import { Injectable } from '@nestjs/common';
import { isLowerCaseUuid, newId } from '../common/ids.js';
import { DataSource, type EntityManager } from 'typeorm';
import { Clock } from '../common/clock/clock.js';
import { ErrorKind } from '../common/errors/domain-error.js';
import { hashSecret, verifySecret } from '../common/secret-hashing.js';
import { AuditService } from '../audit/audit.service.js';
import { ReadRound, type RoundReader } from '../common/read-round.js';
import type { Principal } from '../common/principal.js';
import { UsersError, UsersErrorCode } from './users.errors.js';

export interface User {
  readonly id: string;
  readonly email: string | null;
  readonly phone: string | null;
  readonly displayName: string;
  readonly roles: readonly string[];
  readonly createdAt: Date;
}

/** Roles a user may hold (the CHECK on users.roles lists the same). */
export type UserRole = 'compliance';

export interface NewUser {
  readonly email?: string;
  readonly phone?: string;
  readonly password: string;
  readonly displayName: string;
}

interface UserRow {
  id: string;
  email: string | null;
  phone: string | null;
  password_hash: string;
  display_name: string;
  roles: string[];
  created_at: Date;
}

const toUser = (row: UserRow): User => ({
  id: row.id,
  email: row.email,
  phone: row.phone,
  displayName: row.display_name,
  roles: row.roles,
  createdAt: row.created_at,
});

/** A login is an email (any case) or an E.164 phone number. */
export function normaliseLogin(login: string): { email: string } | { phone: string } {
  const trimmed = login.trim();
  return trimmed.startsWith('+') ? { phone: trimmed } : { email: trimmed.toLowerCase() };
}

/** The most users one shared read asks for. */
const READ_BATCH_LIMIT = 256;

/** End-user accounts: sign-up, password sign-in, lookup. The only writer of `users`. */
@Injectable()
export class UsersService {
  /** getById's reads join the turn's read round (not a cache: see ReadRound). */
  private readonly byIdReads: RoundReader<UserRow>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    reads: ReadRound,
  ) {
    this.byIdReads = reads.reader({
      sql: (ids) => `SELECT * FROM users WHERE id = ANY(${ids})`,
      answer: (rows: UserRow[]) => new Map(rows.map((row) => [row.id, row])),
      maxKeys: READ_BATCH_LIMIT,
    });
  }

  /**
   * Creates an account, or does nothing when the email or phone is already taken. Both outcomes look
   * the same to the caller (and take the same time: the password is hashed either way), so sign-up
   * cannot be used to learn who has an account. Returns the new user's id, or null.
   */
  async signUp(input: NewUser, manager?: EntityManager): Promise<string | null> {
    const passwordHash = await hashSecret(input.password);
    const id = newId();
    const work = async (manager: EntityManager): Promise<string | null> => {
      const inserted: { id: string }[] = await manager.query(
        `INSERT INTO users (id, email, phone, password_hash, display_name, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT DO NOTHING
         RETURNING id`,
        [id, input.email ?? null, input.phone ?? null, passwordHash, input.displayName, this.clock.now()],
      );
      const created = inserted[0]?.id ?? null;
      await this.audit.record(
        {
          actor: { userId: created },
          action: created ? 'user.signed_up' : 'user.sign_up.refused',
          resourceType: 'user',
          resourceId: created,
          outcome: created ? 'success' : 'failure',
          problemCode: created ? null : 'LOGIN_TAKEN',
        },
        manager,
      );
      return created;
    };
    return manager ? work(manager) : this.dataSource.transaction(work);
  }

  /** The user whose login and password match, or null; costs the same when the login is unknown. */
  async authenticate(login: string, password: string): Promise<User | null> {
    const key = normaliseLogin(login);
    const rows: UserRow[] =
      'email' in key
        ? await this.dataSource.query('SELECT * FROM users WHERE email = $1', [key.email])
        : await this.dataSource.query('SELECT * FROM users WHERE phone = $1', [key.phone]);
    const row = rows[0];
    const matches = await verifySecret(row?.password_hash, password);
    return matches && row !== undefined ? toUser(row) : null;
  }

  async findById(id: string): Promise<User | null> {
    const rows: UserRow[] = await this.dataSource.query('SELECT * FROM users WHERE id = $1', [id]);
    return rows[0] ? toUser(rows[0]) : null;
  }

  /**
   * Gives (`present`) or takes away a role, idempotently, and records who did it whether or not it
   * changed anything. Throws USER_NOT_FOUND for an unknown user.
   */
  async setRole(
    userId: string,
    role: UserRole,
    present: boolean,
    actor: Principal | null,
    manager?: EntityManager,
  ): Promise<{ user: User; changed: boolean }> {
    const work = async (tx: EntityManager) => {
      // An UPDATE answers [rows, affected count] through TypeORM.
      const [, affected] = (await tx.query(
        present
          ? 'UPDATE users SET roles = array_append(roles, $2) WHERE id = $1 AND NOT ($2 = ANY (roles))'
          : 'UPDATE users SET roles = array_remove(roles, $2) WHERE id = $1 AND $2 = ANY (roles)',
        [userId, role],
      )) as [unknown, number];
      const changed = affected === 1;
      const rows: UserRow[] = await tx.query('SELECT * FROM users WHERE id = $1', [userId]);
      const row = rows[0];
      if (row === undefined) throw new UsersError(ErrorKind.NotFound, UsersErrorCode.UserNotFound, 'No such user.');
      await this.audit.record(
        {
          actor,
          action: present ? 'user.role.granted' : 'user.role.revoked',
          resourceType: 'user',
          resourceId: userId,
          outcome: 'success',
          details: { role, changed },
        },
        tx,
      );
      return { user: toUser(row), changed };
    };
    return manager ? work(manager) : this.dataSource.transaction(work);
  }

  /**
   * The user, or USER_NOT_FOUND. The read may share a round trip with the others asked for in the same
   * turn (the credit signals of concurrent decisions); the key is in PostgreSQL's own form (a uuid in
   * lower case) so that its row is found, and anything else is read on its own.
   */
  async getById(id: string): Promise<User> {
    const key = id.toLowerCase();
    let user: User | null;
    if (isLowerCaseUuid(key)) {
      const row = await this.byIdReads.load(key);
      user = row === undefined ? null : toUser(row);
    } else {
      user = await this.findById(id);
    }
    if (user === null) throw new UsersError(ErrorKind.NotFound, UsersErrorCode.UserNotFound, 'No such user.');
    return user;
  }
}

/** `ada@example.com` -> `a***@example.com`: enough to recognise, not to harvest. */
export function maskEmail(email: string): string {
  const at = email.indexOf('@');
  return at <= 0 ? '***' : `${email[0]}***${email.slice(at)}`;
}

/** `+8613800138000` -> `+86*******8000`. */
export function maskPhone(phone: string): string {
  return phone.length <= 7 ? '***' : `${phone.slice(0, 3)}${'*'.repeat(phone.length - 7)}${phone.slice(-4)}`;
}
