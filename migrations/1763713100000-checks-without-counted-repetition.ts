import type { MigrationInterface, QueryRunner } from 'typeorm';

/** A CHECK constraint written two ways that accept exactly the same values. */
export interface RewrittenCheck {
  readonly table: string;
  readonly name: string;
  /** The column the expressions read, and its type (for the equivalence test). */
  readonly column: string;
  readonly type: 'text' | 'text[]';
  /** The expression as the earlier migrations wrote it; `down` puts it back. */
  readonly before: string;
  readonly after: string;
}

const HEX_64 = (column: string) => ({
  column,
  type: 'text' as const,
  before: `${column} ~ '^[0-9a-f]{64}$'`,
  after: `length(${column}) = 64 AND ${column} ~ '^[0-9a-f]+$'`,
});

/** `^first rest{0,most-1}$` as it was: one leading character, at most `most` in all. */
const leadingLetter = (table: string, column: string, first: string, rest: string, most: number): RewrittenCheck => ({
  table,
  name: `${table}_${column}_check`,
  column,
  type: 'text',
  before: `${column} ~ '^${first}${rest}{0,${most - 1}}$'`,
  after: `length(${column}) <= ${most} AND ${column} ~ '^${first}${rest}*$'`,
});

/**
 * Every CHECK whose pattern counted a repetition above three (`{64}`, `{0,63}`, `{1,128}`), with the
 * same rule written as an uncounted pattern and a length bound. PostgreSQL's regular expression engine
 * builds its automaton's states afresh on every match, and a counted repetition multiplies them: on
 * this project's VM, `request_id ~ '^[A-Za-z0-9._:-]{1,128}$'` took 31 µs a row against 0.6 µs for
 * `length(request_id) <= 128 AND request_id ~ '^[A-Za-z0-9._:-]+$'`, a 64-digit hash 7.5 µs against
 * 0.6 µs; inserting an audit event took 73 µs of the server's work with the counted checks and 44 µs
 * with these (20,000 rows in one statement). Every ledger entry carries two hashes, every account
 * write one, every request's audit event five such checks.
 *
 * The patterns only admit ASCII, so `length` (characters) counts what the repetition counted. Each pair
 * is held to accept the same values, on PostgreSQL itself, by
 * test/foundation/check-constraints-count-lengths-not-repetitions.e2e-spec.ts. A CHECK may not hold a
 * subquery, so a scope's 64 characters are counted by `audit_scope_lines_fit` (below).
 */
export const REWRITTEN_CHECKS: readonly RewrittenCheck[] = [
  leadingLetter('audit_events', 'client_type', '[a-z]', '[a-z0-9_]', 32),
  leadingLetter('audit_events', 'resource_type', '[a-z]', '[a-z0-9_]', 64),
  leadingLetter('audit_events', 'problem_code', '[A-Z]', '[A-Z0-9_]', 64),
  {
    table: 'audit_events',
    name: 'audit_events_request_id_check',
    column: 'request_id',
    type: 'text',
    before: `request_id ~ '^[A-Za-z0-9._:-]{1,128}$'`,
    after: `length(request_id) <= 128 AND request_id ~ '^[A-Za-z0-9._:-]+$'`,
  },
  {
    table: 'audit_events',
    name: 'audit_events_scopes_check',
    column: 'scopes',
    type: 'text[]',
    // The scopes joined by newlines, as before (so an element holding a newline is still two scopes).
    before: String.raw`cardinality(scopes) <= 64 AND (cardinality(scopes) = 0 OR (array_ndims(scopes) = 1
      AND array_to_string(scopes, E'\n', '') ~ '^[!#-\[\]-~]{1,64}(\n[!#-\[\]-~]{1,64})*$'))`,
    after: String.raw`cardinality(scopes) <= 64 AND (cardinality(scopes) = 0 OR (array_ndims(scopes) = 1
      AND array_to_string(scopes, E'\n', '') ~ '^[!#-\[\]-~]+(\n[!#-\[\]-~]+)*$'
      AND audit_scope_lines_fit(array_to_string(scopes, E'\n', ''), 64)))`,
  },
  { table: 'audit_purges', name: 'audit_purges_through_hash_check', ...HEX_64('through_hash') },
  { table: 'audit_seals', name: 'audit_seals_prev_hash_check', ...HEX_64('prev_hash') },
  { table: 'audit_seals', name: 'audit_seals_hash_check', ...HEX_64('hash') },
  { table: 'credit_reports', name: 'credit_reports_signals_digest_check', ...HEX_64('signals_digest') },
  ...['full_name_cipher', 'id_number_cipher'].map((column) => ({
    table: 'identity_records',
    name: `identity_records_${column}_check`,
    column,
    type: 'text' as const,
    // The key id, the second dot-separated part (no part holds a dot), is at most 32 characters.
    before: `${column} ~ '^v1\\.[A-Za-z0-9_-]{1,32}\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*\\.[A-Za-z0-9_-]+$'`,
    after: `length(split_part(${column}, '.', 2)) <= 32 AND ${column} ~ '^v1\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*\\.[A-Za-z0-9_-]+$'`,
  })),
  { table: 'identity_records', name: 'identity_records_id_number_index_check', ...HEX_64('id_number_index') },
  {
    table: 'identity_records',
    name: 'identity_records_id_number_masked_check',
    column: 'id_number_masked',
    type: 'text',
    // 3 digits, then stars, then 4 characters: 18 in all leaves exactly 11 stars.
    before: `id_number_masked ~ '^[0-9]{3}\\*{11}[0-9]{3}[0-9X]$'`,
    after: `length(id_number_masked) = 18 AND id_number_masked ~ '^[0-9]{3}\\*+[0-9]{3}[0-9X]$'`,
  },
  { table: 'ledger_accounts', name: 'ledger_accounts_head_hash_check', ...HEX_64('head_hash') },
  leadingLetter('ledger_transfers', 'code', '[a-z]', '[a-z0-9_.]', 64),
  { table: 'ledger_entries', name: 'ledger_entries_prev_hash_check', ...HEX_64('prev_hash') },
  { table: 'ledger_entries', name: 'ledger_entries_hash_check', ...HEX_64('hash') },
  { table: 'ledger_checkpoints', name: 'ledger_checkpoints_merkle_root_check', ...HEX_64('merkle_root') },
  { table: 'ledger_checkpoints', name: 'ledger_checkpoints_prev_hash_check', ...HEX_64('prev_hash') },
  { table: 'ledger_checkpoints', name: 'ledger_checkpoints_hash_check', ...HEX_64('hash') },
  { table: 'ledger_checkpoint_heads', name: 'ledger_checkpoint_heads_head_hash_check', ...HEX_64('head_hash') },
  {
    table: 'oauth_clients',
    name: 'oauth_clients_client_id_check',
    column: 'client_id',
    type: 'text',
    // The random part has no underscore: it is what follows the last one, 8 to 40 characters, and the
    // name before that underscore is 3 to 31 (4 to 32 with the underscore).
    before: `client_id ~ '^[a-z][a-z0-9_]{2,30}_[A-Za-z0-9]{8,40}$'`,
    after:
      `client_id ~ '^[a-z][a-z0-9_]*_[A-Za-z0-9]+$'` +
      ` AND length(substring(client_id FROM '[A-Za-z0-9]+$')) BETWEEN 8 AND 40` +
      ` AND length(client_id) - length(substring(client_id FROM '[A-Za-z0-9]+$')) BETWEEN 4 AND 32`,
  },
  leadingLetter('payment_accounts', 'purpose', '[a-z]', '[a-z-]', 32),
  {
    table: 'users',
    name: 'users_phone_check',
    column: 'phone',
    type: 'text',
    // A plus sign, a digit 1 to 9, then 6 to 14 digits: 8 to 16 characters.
    before: `phone IS NULL OR phone ~ '^\\+[1-9][0-9]{6,14}$'`,
    after: `phone IS NULL OR (length(phone) BETWEEN 8 AND 16 AND phone ~ '^\\+[1-9][0-9]+$')`,
  },
];

/**
 * One ALTER TABLE a table, so that each table's rows are read once to be checked against its new
 * constraints; writers to that table wait for the scan (the ALTER's lock is held until the migration
 * commits). Every row passes: each new constraint accepts exactly what the old one did.
 */
async function replaceChecks(queryRunner: QueryRunner, expression: (check: RewrittenCheck) => string): Promise<void> {
  const tables = [...new Set(REWRITTEN_CHECKS.map((check) => check.table))];
  for (const table of tables) {
    const checks = REWRITTEN_CHECKS.filter((check) => check.table === table);
    const actions = checks.flatMap((check) => [
      `DROP CONSTRAINT ${check.name}`,
      `ADD CONSTRAINT ${check.name} CHECK (${expression(check)})`,
    ]);
    await queryRunner.query(`ALTER TABLE ${table} ${actions.join(', ')}`);
  }
}

/** The same rules as before, checked without counted repetitions (REWRITTEN_CHECKS says why). */
export class ChecksWithoutCountedRepetition1763713100000 implements MigrationInterface {
  name = 'ChecksWithoutCountedRepetition1763713100000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // Whether every newline-separated line of `lines` has at most `most` characters (1 to 2 µs for a
    // token's scopes, against 9 to 16 µs for the counted pattern it replaces).
    await queryRunner.query(String.raw`
      CREATE FUNCTION audit_scope_lines_fit(lines text, most integer) RETURNS boolean
        LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
      DECLARE
        line text;
      BEGIN
        FOREACH line IN ARRAY string_to_array(lines, E'\n') LOOP
          IF length(line) > most THEN
            RETURN false;
          END IF;
        END LOOP;
        RETURN true;
      END
      $$`);
    await replaceChecks(queryRunner, (check) => check.after);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await replaceChecks(queryRunner, (check) => check.before);
    await queryRunner.query('DROP FUNCTION audit_scope_lines_fit(text, integer)');
  }
}
