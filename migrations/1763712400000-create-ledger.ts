import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The ledger: accounts with TigerBeetle-style balances, transfers (one-phase, or two-phase: pending,
 * then posted, voided or expired), entries hash-chained per account, and checkpoints.
 *
 * What the database itself guarantees, whatever the code does:
 * - transfers, entries and checkpoints are never deleted, and never updated, except a pending
 *   transfer's one resolution (status from `pending` to `posted`, `voided` or `expired`);
 * - an account's balances only change together with its head (seq and hash), and never go negative;
 * - a flagged account never exceeds its limit, pending amounts counted (CHECK constraints);
 * - an account's identity (code, currency, flags) never changes; closing is the one other change.
 */
export class CreateLedger1763712400000 implements MigrationInterface {
  name = 'CreateLedger1763712400000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE ledger_accounts (
        id                               uuid        PRIMARY KEY,
        code                             text        NOT NULL UNIQUE CHECK (code ~ '^[a-z][a-z0-9_-]*(:[A-Za-z0-9_.-]+)+$' AND length(code) <= 160),
        currency                         char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        debits_must_not_exceed_credits   boolean     NOT NULL DEFAULT false,
        credits_must_not_exceed_debits   boolean     NOT NULL DEFAULT false,
        debits_pending                   bigint      NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
        debits_posted                    bigint      NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
        credits_pending                  bigint      NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
        credits_posted                   bigint      NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
        head_seq                         bigint      NOT NULL DEFAULT 0 CHECK (head_seq >= 0),
        head_hash                        text        NOT NULL DEFAULT repeat('0', 64) CHECK (head_hash ~ '^[0-9a-f]{64}$'),
        metadata                         jsonb       CHECK (metadata IS NULL OR octet_length(metadata::text) <= 4096),
        created_at                       timestamptz NOT NULL,
        closed_at                        timestamptz,
        CHECK (NOT (debits_must_not_exceed_credits AND credits_must_not_exceed_debits)),
        CHECK (NOT debits_must_not_exceed_credits OR debits_pending + debits_posted <= credits_posted),
        CHECK (NOT credits_must_not_exceed_debits OR credits_pending + credits_posted <= debits_posted)
      )
    `);
    await queryRunner.query(`
      CREATE TABLE ledger_transfers (
        id                 uuid        PRIMARY KEY,
        kind               text        NOT NULL CHECK (kind IN ('single', 'pending', 'post_pending', 'void_pending', 'expire_pending')),
        debit_account_id   uuid        NOT NULL REFERENCES ledger_accounts (id),
        credit_account_id  uuid        NOT NULL REFERENCES ledger_accounts (id),
        amount             bigint      NOT NULL CHECK (amount >= 0),
        currency           char(3)     NOT NULL,
        code               text        NOT NULL CHECK (code ~ '^[a-z][a-z0-9_.]{0,63}$'),
        metadata           jsonb       CHECK (metadata IS NULL OR octet_length(metadata::text) <= 4096),
        pending_id         uuid        REFERENCES ledger_transfers (id),
        timeout_at         timestamptz,
        status             text        NOT NULL CHECK (status IN ('posted', 'pending', 'voided', 'expired')),
        resolved_by        uuid,
        linked_batch_id    uuid,
        created_at         timestamptz NOT NULL,
        CHECK (debit_account_id <> credit_account_id),
        CHECK (kind = 'pending' OR status = 'posted'),
        CHECK ((kind IN ('post_pending', 'void_pending', 'expire_pending')) = (pending_id IS NOT NULL)),
        CHECK (kind IN ('post_pending', 'void_pending', 'expire_pending') OR amount > 0),
        CHECK (timeout_at IS NULL OR kind = 'pending'),
        UNIQUE (pending_id)
      )
    `);
    await queryRunner.query('CREATE INDEX ledger_transfers_debit ON ledger_transfers (debit_account_id, created_at, id)');
    await queryRunner.query('CREATE INDEX ledger_transfers_credit ON ledger_transfers (credit_account_id, created_at, id)');
    await queryRunner.query('CREATE INDEX ledger_transfers_created ON ledger_transfers (created_at, id)');
    await queryRunner.query(
      `CREATE INDEX ledger_transfers_pending_timeout ON ledger_transfers (timeout_at) WHERE status = 'pending' AND timeout_at IS NOT NULL`,
    );
    await queryRunner.query(`
      CREATE TABLE ledger_entries (
        account_id       uuid        NOT NULL REFERENCES ledger_accounts (id),
        seq              bigint      NOT NULL CHECK (seq >= 1),
        transfer_id      uuid        NOT NULL REFERENCES ledger_transfers (id),
        side             text        NOT NULL CHECK (side IN ('debit', 'credit')),
        pending_delta    bigint      NOT NULL,
        posted_delta     bigint      NOT NULL CHECK (posted_delta >= 0),
        debits_pending   bigint      NOT NULL CHECK (debits_pending >= 0),
        debits_posted    bigint      NOT NULL CHECK (debits_posted >= 0),
        credits_pending  bigint      NOT NULL CHECK (credits_pending >= 0),
        credits_posted   bigint      NOT NULL CHECK (credits_posted >= 0),
        prev_hash        text        NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
        hash             text        NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
        created_at       timestamptz NOT NULL,
        PRIMARY KEY (account_id, seq)
      )
    `);
    await queryRunner.query('CREATE INDEX ledger_entries_transfer ON ledger_entries (transfer_id)');
    await queryRunner.query('CREATE INDEX ledger_entries_account_time ON ledger_entries (account_id, created_at, seq)');
    await queryRunner.query(`
      CREATE TABLE ledger_checkpoints (
        number          bigint      PRIMARY KEY CHECK (number >= 1),
        merkle_root     text        NOT NULL CHECK (merkle_root ~ '^[0-9a-f]{64}$'),
        account_count   bigint      NOT NULL CHECK (account_count >= 0),
        entry_count     bigint      NOT NULL CHECK (entry_count >= 0),
        prev_hash       text        NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
        hash            text        NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
        created_at      timestamptz NOT NULL
      )
    `);
    // Heads a checkpoint committed to, so that verification can recompute its root later.
    await queryRunner.query(`
      CREATE TABLE ledger_checkpoint_heads (
        checkpoint_number  bigint NOT NULL REFERENCES ledger_checkpoints (number),
        account_id         uuid   NOT NULL REFERENCES ledger_accounts (id),
        seq                bigint NOT NULL,
        head_hash          text   NOT NULL CHECK (head_hash ~ '^[0-9a-f]{64}$'),
        PRIMARY KEY (checkpoint_number, account_id)
      )
    `);

    await queryRunner.query(`
      CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'the ledger is append-only: % on % is refused', TG_OP, TG_TABLE_NAME USING ERRCODE = '23001';
      END
      $$
    `);
    await queryRunner.query(`
      CREATE FUNCTION ledger_transfer_resolution_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF OLD.status = 'pending' AND NEW.status IN ('posted', 'voided', 'expired') AND NEW.resolved_by IS NOT NULL
           AND (to_jsonb(NEW) - 'status' - 'resolved_by') = (to_jsonb(OLD) - 'status' - 'resolved_by') THEN
          RETURN NEW;
        END IF;
        RAISE EXCEPTION 'a transfer never changes, except a pending transfer''s one resolution' USING ERRCODE = '23001';
      END
      $$
    `);
    await queryRunner.query(`
      CREATE FUNCTION ledger_account_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.id <> OLD.id OR NEW.code <> OLD.code OR NEW.currency <> OLD.currency
           OR NEW.debits_must_not_exceed_credits <> OLD.debits_must_not_exceed_credits
           OR NEW.credits_must_not_exceed_debits <> OLD.credits_must_not_exceed_debits
           OR NEW.created_at <> OLD.created_at OR NEW.metadata IS DISTINCT FROM OLD.metadata THEN
          RAISE EXCEPTION 'an account''s identity never changes' USING ERRCODE = '23001';
        END IF;
        IF OLD.closed_at IS NOT NULL AND NEW.closed_at IS DISTINCT FROM OLD.closed_at THEN
          RAISE EXCEPTION 'a closed account stays closed' USING ERRCODE = '23001';
        END IF;
        IF (NEW.debits_pending, NEW.debits_posted, NEW.credits_pending, NEW.credits_posted)
             IS DISTINCT FROM (OLD.debits_pending, OLD.debits_posted, OLD.credits_pending, OLD.credits_posted)
           AND NEW.head_seq <= OLD.head_seq THEN
          RAISE EXCEPTION 'balances change only with a new entry' USING ERRCODE = '23001';
        END IF;
        IF NEW.head_seq < OLD.head_seq THEN
          RAISE EXCEPTION 'an account''s chain only grows' USING ERRCODE = '23001';
        END IF;
        RETURN NEW;
      END
      $$
    `);
    for (const table of ['ledger_entries', 'ledger_checkpoints', 'ledger_checkpoint_heads']) {
      await queryRunner.query(
        `CREATE TRIGGER ${table}_append_only BEFORE UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()`,
      );
      await queryRunner.query(
        `CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()`,
      );
    }
    await queryRunner.query(
      'CREATE TRIGGER ledger_transfers_no_delete BEFORE DELETE ON ledger_transfers FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()',
    );
    await queryRunner.query(
      'CREATE TRIGGER ledger_transfers_no_truncate BEFORE TRUNCATE ON ledger_transfers FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()',
    );
    await queryRunner.query(
      'CREATE TRIGGER ledger_transfers_resolution_only BEFORE UPDATE ON ledger_transfers FOR EACH ROW EXECUTE FUNCTION ledger_transfer_resolution_only()',
    );
    await queryRunner.query(
      'CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()',
    );
    await queryRunner.query(
      'CREATE TRIGGER ledger_accounts_no_truncate BEFORE TRUNCATE ON ledger_accounts FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()',
    );
    await queryRunner.query(
      'CREATE TRIGGER ledger_accounts_guard BEFORE UPDATE ON ledger_accounts FOR EACH ROW EXECUTE FUNCTION ledger_account_guard()',
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE ledger_checkpoint_heads, ledger_checkpoints, ledger_entries, ledger_transfers, ledger_accounts');
    await queryRunner.query('DROP FUNCTION ledger_refuse_change(), ledger_transfer_resolution_only(), ledger_account_guard()');
  }
}
